// CaptureQueue: one captureVisibleTab at a time, within Chrome's two-per-second quota.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CAPTURE_MIN_INTERVAL_MS, CaptureQueue } from '../../extension/screenshot.js';

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
