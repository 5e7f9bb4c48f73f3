// Screenshots: chrome.tabs.captureVisibleTab (PNG) with the boxes of personal data painted
// over, re-encoded to WebP, and a perceptual hash to drop near-duplicate burst frames.
// Captures run one at a time within Chrome's quota, most urgent first. The capture
// function and clock are injected so node tests can time the queue; the pixel functions
// are pure.

// chrome.tabs.MAX_CAPTURE_VISIBLE_TAB_CALLS_PER_SECOND is 2
// (https://developer.chrome.com/docs/extensions/reference/api/tabs#property-MAX_CAPTURE_VISIBLE_TAB_CALLS_PER_SECOND);
// a little slack over 500 ms keeps us clear of it.
export const CAPTURE_MIN_INTERVAL_MS = 550;
// A shot that could not start within this long of its request would show another moment: skip it.
export const CAPTURE_MAX_WAIT_MS = 1500;
// Quality the wire schema's size budget assumes (lab/capture/wire.py: ~150 kB at 1440x900).
export const WEBP_QUALITY = 0.8;
// Capture priorities: a click, submit or modal is a moment that will not come back; burst
// frames of a settling page can wait.
export const PRIORITY_MOMENT = 0;
export const PRIORITY_BURST = 1;
// Navigation bursts: at most this many frames, one per quota slot (~3 s in all) ...
export const BURST_MAX_FRAMES = 6;
// ... and a frame this close (Hamming distance of 768-bit perceptual hashes) to the previous
// kept one is a near-duplicate: dropped, and the page counts as stable from the previous frame
// on. A cookie bar or a loaded product grid flips dozens of bits; re-rendered text, none.
export const NEAR_DUPLICATE_BITS = 12;
// Hash grid: (HASH_GRID + 1)^2 grey samples. Bits: horizontal dHash, vertical dHash and aHash,
// HASH_GRID^2 each (dHash alone misses a uniform band appearing: it has no horizontal edges).
export const HASH_GRID = 16;
// Painted over personal data: a flat box with a darker border, so a field still reads as a field.
const MASK_FILL = '#d1d5db';
const MASK_EDGE = '#9ca3af';
const MASK_PAD_PX = 2;

const QUOTA_ERROR = /MAX_CAPTURE_VISIBLE_TAB_CALLS_PER_SECOND/;

const realSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Serializes captures at most one per CAPTURE_MIN_INTERVAL_MS, the most urgent request first. */
export class CaptureQueue {
  #capture; #now; #sleep;
  #pending = [];
  #running = false;
  #lastStartedAt = -Infinity;
  #order = 0;

  constructor({ captureVisibleTab, now = () => Date.now(), sleep = realSleep }) {
    this.#capture = captureVisibleTab;
    this.#now = now;
    this.#sleep = sleep;
  }

  /**
   * What `captureVisibleTab(target, {format: 'png'})` returns, or null when the slot came
   * too late. Lower `priority` goes first; equal priorities keep their order.
   */
  capture(target, { maxWaitMs = CAPTURE_MAX_WAIT_MS, priority = PRIORITY_MOMENT } = {}) {
    return new Promise((resolve, reject) => {
      this.#pending.push({ target, maxWaitMs, priority, order: this.#order++, requestedAt: this.#now(), resolve, reject });
      if (!this.#running) this.#drain();
    });
  }

  /** Requests waiting for a slot, by priority. */
  waiting(priority) {
    return this.#pending.filter((r) => priority === undefined || r.priority === priority).length;
  }

  #next() {
    this.#pending.sort((a, b) => a.priority - b.priority || a.order - b.order);
    return this.#pending.shift();
  }

  async #drain() {
    this.#running = true;
    try {
      while (this.#pending.length) {
        const wait = this.#lastStartedAt + CAPTURE_MIN_INTERVAL_MS - this.#now();
        if (wait > 0) await this.#sleep(wait);
        const request = this.#next(); // chosen after the wait: an urgent request may have come in
        if (this.#now() - request.requestedAt > request.maxWaitMs) {
          request.resolve(null);
          continue;
        }
        this.#lastStartedAt = this.#now();
        try {
          request.resolve(await this.#captureOnce(request.target));
        } catch (error) {
          request.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  async #captureOnce(target) {
    try {
      return await this.#capture(target, { format: 'png' });
    } catch (error) {
      if (!QUOTA_ERROR.test(String(error && error.message))) throw error;
      // Someone else (another extension, devtools) used the quota: one more try after a full interval.
      await this.#sleep(CAPTURE_MIN_INTERVAL_MS);
      this.#lastStartedAt = this.#now();
      return await this.#capture(target, { format: 'png' });
    }
  }
}

// ---- pixels (pure) ---------------------------------------------------------------------

/**
 * Perceptual hash of an RGBA buffer of (HASH_GRID + 1)^2 pixels (the frame scaled down): hex of
 * horizontal dHash, vertical dHash and aHash bits (http://www.hackerfactor.com/blog/?/archives/529-Kind-of-Like-That.html).
 */
export function perceptualHash(rgba, grid = HASH_GRID) {
  const side = grid + 1;
  const grey = (x, y) => {
    const i = (y * side + x) * 4;
    return 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
  };
  let mean = 0;
  for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) mean += grey(x, y);
  mean /= grid * grid;
  const bits = [];
  for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) bits.push(grey(x, y) > grey(x + 1, y));
  for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) bits.push(grey(x, y) > grey(x, y + 1));
  for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) bits.push(grey(x, y) > mean);
  let hex = '';
  for (let i = 0; i < bits.length; i += 4) hex += ((bits[i] << 3) | (bits[i + 1] << 2) | (bits[i + 2] << 1) | bits[i + 3]).toString(16);
  return hex;
}

/** Number of differing bits between two hex hashes of the same length. */
export function hammingDistance(a, b) {
  if (!a || !b || a.length !== b.length) return Infinity;
  let distance = 0;
  for (let i = 0; i < a.length; i++) {
    let x = parseInt(a[i], 16) ^ parseInt(b[i], 16);
    while (x) { distance += x & 1; x >>= 1; }
  }
  return distance;
}

/**
 * Boxes (viewport CSS px) scaled to image pixels, padded and clipped: what gets painted over.
 * `viewport` is the page's {w, h} when the boxes were measured.
 */
export function scaleBoxes(boxes, viewport, imageWidth, imageHeight) {
  const scale = viewport && viewport.w ? imageWidth / viewport.w : 1;
  const out = [];
  for (const b of boxes || []) {
    const x = Math.max(0, Math.floor((b.x - MASK_PAD_PX) * scale));
    const y = Math.max(0, Math.floor((b.y - MASK_PAD_PX) * scale));
    const right = Math.min(imageWidth, Math.ceil((b.x + b.w + MASK_PAD_PX) * scale));
    const bottom = Math.min(imageHeight, Math.ceil((b.y + b.h + MASK_PAD_PX) * scale));
    if (right > x && bottom > y) out.push({ x, y, w: right - x, h: bottom - y });
  }
  return out;
}

function base64(bytes) {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

/**
 * Paint `boxes` over a PNG data URL and encode it as WebP; needs createImageBitmap and
 * OffscreenCanvas (the service worker has both). Resolves to
 * {image, width, height, dhash, masked_boxes}.
 */
export async function encodeScreenshot(pngDataUrl, { boxes = [], viewport = null, quality = WEBP_QUALITY } = {}) {
  const png = await (await fetch(pngDataUrl)).blob();
  const bitmap = await createImageBitmap(png);
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(bitmap, 0, 0);
    const painted = scaleBoxes(boxes, viewport, bitmap.width, bitmap.height);
    for (const b of painted) {
      ctx.fillStyle = MASK_FILL;
      ctx.fillRect(b.x, b.y, b.w, b.h);
      ctx.strokeStyle = MASK_EDGE;
      ctx.strokeRect(b.x + 0.5, b.y + 0.5, Math.max(0, b.w - 1), Math.max(0, b.h - 1));
    }
    const side = HASH_GRID + 1;
    const small = new OffscreenCanvas(side, side);
    const sctx = small.getContext('2d');
    sctx.imageSmoothingQuality = 'medium';
    sctx.drawImage(canvas, 0, 0, side, side);
    const dhash = perceptualHash(sctx.getImageData(0, 0, side, side).data);
    const webp = await canvas.convertToBlob({ type: 'image/webp', quality });
    if (webp.type !== 'image/webp') throw new Error(`screenshot: this browser encoded ${webp.type}, not image/webp`);
    const bytes = new Uint8Array(await webp.arrayBuffer());
    return { image: `data:image/webp;base64,${base64(bytes)}`, width: bitmap.width, height: bitmap.height, dhash, masked_boxes: painted.length };
  } finally {
    bitmap.close();
  }
}

/** Re-encode a PNG data URL as a WebP data URL, nothing painted (diagnostics). */
export async function pngToWebp(pngDataUrl, quality = WEBP_QUALITY) {
  const { image, width, height } = await encodeScreenshot(pngDataUrl, { quality });
  return { image, width, height };
}
