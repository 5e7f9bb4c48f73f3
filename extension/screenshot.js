// Screenshots: chrome.tabs.captureVisibleTab (PNG) re-encoded to WebP, one capture at a time
// within Chrome's quota. The capture function and clock are injected so node tests can time it.

// chrome.tabs.MAX_CAPTURE_VISIBLE_TAB_CALLS_PER_SECOND is 2
// (https://developer.chrome.com/docs/extensions/reference/api/tabs#property-MAX_CAPTURE_VISIBLE_TAB_CALLS_PER_SECOND);
// a little slack over 500 ms keeps us clear of it.
export const CAPTURE_MIN_INTERVAL_MS = 550;
// A shot that could not start within this long of its request would show another moment: skip it.
export const CAPTURE_MAX_WAIT_MS = 1500;
// Quality the wire schema's size budget assumes (lab/capture/wire.py: ~150 kB at 1440x900).
export const WEBP_QUALITY = 0.8;
// Navigation bursts: a second frame this long after the first, once late content has painted.
export const BURST_GAP_MS = 600;

const QUOTA_ERROR = /MAX_CAPTURE_VISIBLE_TAB_CALLS_PER_SECOND/;

const realSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Serializes captureVisibleTab calls at most one per CAPTURE_MIN_INTERVAL_MS. */
export class CaptureQueue {
  #capture; #now; #sleep;
  #chain = Promise.resolve();
  #lastStartedAt = -Infinity;

  constructor({ captureVisibleTab, now = () => Date.now(), sleep = realSleep }) {
    this.#capture = captureVisibleTab;
    this.#now = now;
    this.#sleep = sleep;
  }

  /** PNG data URL of the window's visible tab, or null when the slot came too late. */
  capture(windowId, { maxWaitMs = CAPTURE_MAX_WAIT_MS } = {}) {
    const requestedAt = this.#now();
    const run = this.#chain.then(() => this.#captureInTurn(windowId, requestedAt, maxWaitMs));
    // The chain only orders captures; each caller still gets its own error through `run`.
    this.#chain = run.then(() => undefined, () => undefined);
    return run;
  }

  async #captureInTurn(windowId, requestedAt, maxWaitMs) {
    const wait = this.#lastStartedAt + CAPTURE_MIN_INTERVAL_MS - this.#now();
    if (wait > 0) await this.#sleep(wait);
    if (this.#now() - requestedAt > maxWaitMs) return null;
    this.#lastStartedAt = this.#now();
    try {
      return await this.#capture(windowId, { format: 'png' });
    } catch (error) {
      if (!QUOTA_ERROR.test(String(error && error.message))) throw error;
      // Someone else (another extension, devtools) used the quota: one more try after a full interval.
      await this.#sleep(CAPTURE_MIN_INTERVAL_MS);
      this.#lastStartedAt = this.#now();
      return await this.#capture(windowId, { format: 'png' });
    }
  }
}

function base64(bytes) {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

/** Re-encode a PNG data URL as a WebP data URL; needs createImageBitmap and OffscreenCanvas. */
export async function pngToWebp(pngDataUrl, quality = WEBP_QUALITY) {
  const png = await (await fetch(pngDataUrl)).blob();
  const bitmap = await createImageBitmap(png);
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    const webp = await canvas.convertToBlob({ type: 'image/webp', quality });
    if (webp.type !== 'image/webp') throw new Error(`screenshot: this browser encoded ${webp.type}, not image/webp`);
    const bytes = new Uint8Array(await webp.arrayBuffer());
    return { image: `data:image/webp;base64,${base64(bytes)}`, width: bitmap.width, height: bitmap.height };
  } finally {
    bitmap.close();
  }
}
