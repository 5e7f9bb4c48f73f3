// CaptureQueue: one captureVisibleTab at a time, within Chrome's two-per-second quota, moments
// first; the perceptual hash that drops near-duplicate burst frames; mask boxes in image pixels.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CAPTURE_MIN_INTERVAL_MS, CaptureQueue, HASH_GRID, NEAR_DUPLICATE_BITS, PRIORITY_BURST, PRIORITY_MOMENT,
  hammingDistance, perceptualHash, scaleBoxes,
} from '../../extension/screenshot.js';

function clock() {
  const c = { now: 0 };
  c.sleep = async (ms) => { c.now += ms; };
  return c;
}

describe('CaptureQueue', () => {
  it('spaces captures at least the quota interval apart', async () => {
    const c = clock();
    const startedAt = [];
    const queue = new CaptureQueue({ captureVisibleTab: async (windowId) => { startedAt.push(c.now); return `png-${windowId}`; }, now: () => c.now, sleep: c.sleep });
    const shots = await Promise.all([1, 2, 3].map((w) => queue.capture(w, { maxWaitMs: 10_000 })));
    assert.deepEqual(shots, ['png-1', 'png-2', 'png-3']);
    assert.deepEqual(startedAt, [0, CAPTURE_MIN_INTERVAL_MS, 2 * CAPTURE_MIN_INTERVAL_MS]);
  });

  it('skips a shot that could not start in time', async () => {
    const c = clock();
    const queue = new CaptureQueue({ captureVisibleTab: async () => 'png', now: () => c.now, sleep: c.sleep });
    const shots = await Promise.all([queue.capture(1), queue.capture(1, { maxWaitMs: 100 })]);
    assert.deepEqual(shots, ['png', null]);
  });

  it('retries once after a quota error and reports other errors', async () => {
    const c = clock();
    let calls = 0;
    const queue = new CaptureQueue({
      captureVisibleTab: async () => {
        calls += 1;
        if (calls === 1) throw new Error('This request exceeds the MAX_CAPTURE_VISIBLE_TAB_CALLS_PER_SECOND quota.');
        if (calls === 3) throw new Error('Cannot access contents of url "chrome://newtab/"');
        return 'png';
      },
      now: () => c.now,
      sleep: c.sleep,
    });
    assert.equal(await queue.capture(1), 'png');
    await assert.rejects(queue.capture(1), /Cannot access contents/);
    assert.equal(await queue.capture(1, { maxWaitMs: 10_000 }), 'png', 'the queue keeps working after an error');
  });
});

describe('CaptureQueue priorities', () => {
  it('lets a moment (click, modal) overtake waiting burst frames', async () => {
    const c = clock();
    const order = [];
    const queue = new CaptureQueue({ captureVisibleTab: async (name) => { order.push(name); return name; }, now: () => c.now, sleep: c.sleep });
    const shots = [
      queue.capture('burst-1', { priority: PRIORITY_BURST, maxWaitMs: 10_000 }),
      queue.capture('burst-2', { priority: PRIORITY_BURST, maxWaitMs: 10_000 }),
      queue.capture('click', { priority: PRIORITY_MOMENT, maxWaitMs: 10_000 }),
    ];
    assert.equal(queue.waiting(PRIORITY_BURST), 1, 'burst-1 is already running');
    await Promise.all(shots);
    assert.deepEqual(order, ['burst-1', 'click', 'burst-2']);
  });
});

describe('perceptual hash', () => {
  const W = HASH_GRID + 1;
  const image = (f) => {
    const rgba = new Uint8ClampedArray(W * W * 4);
    for (let y = 0; y < W; y++) {
      for (let x = 0; x < W; x++) {
        const v = f(x, y);
        rgba.set([v, v, v, 255], (y * W + x) * 4);
      }
    }
    return rgba;
  };
  const page = (x, y) => (x * 37 + y * 91) % 200;

  it('gives near-identical frames near-identical hashes and a changed page a distant one', () => {
    const a = perceptualHash(image(page));
    assert.equal(a.length, (3 * HASH_GRID * HASH_GRID) / 4);
    assert.ok(hammingDistance(a, perceptualHash(image((x, y) => page(x, y) + (x === 3 && y === 3 ? 1 : 0)))) <= NEAR_DUPLICATE_BITS);
    const banner = image((x, y) => (y > 13 ? 20 : page(x, y)));
    assert.ok(hammingDistance(a, perceptualHash(banner)) > NEAR_DUPLICATE_BITS);
    assert.equal(hammingDistance('ff', '0f'), 4);
    assert.equal(hammingDistance('ff', 'fff'), Infinity);
  });

  it('sees a uniform band appear on a blank page (which a horizontal dHash alone misses)', () => {
    const blank = perceptualHash(image(() => 255));
    const band = perceptualHash(image((x, y) => (y >= 2 && y <= 6 ? 40 : 255)));
    assert.ok(hammingDistance(blank, band) > NEAR_DUPLICATE_BITS);
  });
});

describe('scaleBoxes', () => {
  it('scales viewport boxes to image pixels, padded and clipped to the image', () => {
    assert.deepEqual(scaleBoxes([{ x: 10, y: 20, w: 100, h: 30 }, { x: 1270, y: 790, w: 50, h: 50 }, { x: 5000, y: 0, w: 1, h: 1 }], { w: 1280, h: 800 }, 2560, 1600), [
      { x: 16, y: 36, w: 208, h: 68 },
      { x: 2536, y: 1576, w: 24, h: 24 },
    ]);
  });
});
