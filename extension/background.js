// Service worker: receives what content scripts capture, numbers it, adds screenshots and
// streams it to the CodeSight server (recorder.js). Automation drives it through
// globalThis.codesight with Playwright's worker.evaluate; the popup through messages.

import { Recorder } from './recorder.js';
import { BURST_GAP_MS, CaptureQueue, pngToWebp } from './screenshot.js';
import { MAX_URL_CHARS } from './wire.js';

// A screenshot taken at pointerdown waits this long for its click event, then is dropped.
const PRESS_SHOT_TTL_MS = 5000;
// A click reuses a capture of the same page requested this recently instead of waiting for the
// next quota slot (one per 550 ms), by which time the click may have navigated away.
const CLICK_SHOT_REUSE_MS = 700;

const recorder = new Recorder({
  storage: chrome.storage.local,
  fetch: (...args) => fetch(...args),
  WebSocket,
  onChange: showBadge,
});
const ready = recorder.restore();
const captures = new CaptureQueue({ captureVisibleTab: (windowId, options) => chrome.tabs.captureVisibleTab(windowId, options) });
// `${tabId}:${clickId}` -> promise of the screenshot requested when that click was pressed.
const pressShots = new Map();
// tabId -> the latest capture requested for it: {url, at, promise}.
const recentShots = new Map();
// Screenshot work in progress; flush and stop wait for it so no screenshot is left behind.
const screenshotTasks = new Set();
const screenshotStats = { taken: 0, skipped: 0, errors: 0, lastError: null };

function showBadge(status) {
  const report = (error) => console.error('codesight: badge update failed', error);
  chrome.action.setBadgeText({ text: status.recording ? 'REC' : '' }).catch(report);
  if (status.recording) {
    chrome.action.setBadgeBackgroundColor({ color: status.lastError ? '#b45309' : '#b91c1c' }).catch(report);
  }
}

/**
 * A WebP screenshot of the tab when it is the visible one in its window; null otherwise.
 * With `reuseMs`, a capture of the same URL requested that recently is shared instead.
 */
async function shootTab(tabId, { reuseMs = 0 } = {}) {
  const tab = await chrome.tabs.get(tabId);
  if (!tab.active || !tab.url) return null;
  const recent = recentShots.get(tabId);
  if (reuseMs && recent && recent.url === tab.url && Date.now() - recent.at < reuseMs) {
    const shot = await recent.promise;
    if (shot) return shot;
  }
  const promise = captureVisible(tab);
  // Its failure reaches this caller; a later click that shares it just takes its own capture.
  recentShots.set(tabId, { url: tab.url, at: Date.now(), promise: promise.catch(() => null) });
  return promise;
}

/** Null when the tab moved to another URL while the capture waited its turn (the picture
 * would show the next page under this one's name). */
async function captureVisible(tab) {
  const tabId = tab.id;
  const png = await captures.capture(tab.windowId);
  if (!png) return null;
  const t = Date.now();
  const after = await chrome.tabs.get(tabId);
  if (after.url !== tab.url || !after.active) return null;
  return { t, url: tab.url.slice(0, MAX_URL_CHARS), ...(await pngToWebp(png)) };
}

/** Never rejects: a failed capture resolves to {error}, reported when (if) it is recorded. */
function requestShot(tabId, options) {
  return shootTab(tabId, options).catch((error) => ({ error }));
}

function track(task) {
  const settled = task.catch((error) => console.error('codesight: screenshot task failed', error));
  screenshotTasks.add(settled);
  settled.finally(() => screenshotTasks.delete(settled));
  return settled;
}

async function recordShot(shotRequest, reason, forSeq) {
  const shot = await shotRequest;
  if (!shot) { screenshotStats.skipped += 1; return null; }
  if (shot.error) {
    screenshotStats.errors += 1;
    screenshotStats.lastError = String(shot.error.message || shot.error);
    console.warn('codesight: screenshot failed', { reason, forSeq, error: screenshotStats.lastError });
    return null;
  }
  screenshotStats.taken += 1;
  const { t, url, image, width, height } = shot;
  return recorder.record({ type: 'screenshot', t, url, reason, for_seq: forSeq, image, width, height });
}

async function navigationBurst(tabId, pageSeq) {
  const first = await chrome.tabs.get(tabId);
  await recordShot(requestShot(tabId), 'navigation', pageSeq);
  await new Promise((resolve) => setTimeout(resolve, BURST_GAP_MS));
  const now = await chrome.tabs.get(tabId).catch(() => null); // the tab may be closed by now
  if (now && now.url === first.url && recorder.status().recording) await recordShot(requestShot(tabId), 'navigation', pageSeq);
}

async function settleScreenshots() {
  while (screenshotTasks.size) await Promise.all([...screenshotTasks]);
}

function onPressed({ clickId }, tab) {
  if (!recorder.status().recording) return { recording: false };
  const key = `${tab.id}:${clickId}`;
  pressShots.set(key, requestShot(tab.id, { reuseMs: CLICK_SHOT_REUSE_MS }));
  setTimeout(() => pressShots.delete(key), PRESS_SHOT_TTL_MS);
  return { recording: true };
}

async function onCaptured({ event, clickId }, sender) {
  const tab = sender.tab;
  const seq = await recorder.record({ ...event, url: String(event.url).slice(0, MAX_URL_CHARS) });
  if (seq === null) return { recorded: false };
  if (event.type === 'click') {
    const key = `${tab.id}:${clickId}`;
    const shot = pressShots.get(key) || requestShot(tab.id, { reuseMs: CLICK_SHOT_REUSE_MS });
    pressShots.delete(key);
    track(recordShot(shot, 'click', seq));
  } else if (event.type === 'page' && sender.frameId === 0) {
    track(navigationBurst(tab.id, seq));
  }
  return { recorded: true, seq };
}

chrome.tabs.onRemoved.addListener((tabId) => recentShots.delete(tabId));

const api = {
  /** Open a session on `server` and record into it; resolves to the server's `{id, ws_url}`. */
  async startSession({ server, token, site, siteVersion = null, mode = 'human', startUrl = null } = {}) {
    await ready;
    return recorder.start({ server, token, site, siteVersion, mode, startUrl, userAgent: navigator.userAgent });
  },
  /** Stop capturing, wait until every event is acked, then complete the session. */
  async stopSession({ timeoutMs } = {}) {
    await ready;
    return recorder.stop({ timeoutMs, beforeFlush: settleScreenshots });
  },
  /** Forget the local session (and its unsent events) without completing it. */
  async discardSession() {
    await ready;
    return recorder.discard();
  },
  status() {
    return { ...recorder.status(), pendingScreenshots: screenshotTasks.size, screenshots: { ...screenshotStats } };
  },
  /** Resolves when every queued event (pending screenshots included) is acked. */
  async flush({ timeoutMs } = {}) {
    await ready;
    await settleScreenshots();
    return recorder.flush({ timeoutMs });
  },
  /** A WebP screenshot of a tab (default: the active tab of the last focused window), not recorded. */
  async captureTab(tabId = null) {
    const id = tabId ?? (await chrome.tabs.query({ active: true, lastFocusedWindow: true }))[0]?.id;
    if (id === undefined) throw new Error('captureTab: no active tab');
    const shot = await shootTab(id);
    if (!shot) throw new Error(`captureTab: tab ${id} is not the visible tab of its window`);
    return shot;
  },
};
globalThis.codesight = api;

// Content scripts send what they capture; only extension pages (the popup) may control the session.
async function handleMessage(message, sender) {
  await ready;
  const fromExtensionPage = sender.id === chrome.runtime.id && String(sender.url).startsWith(chrome.runtime.getURL(''));
  const cmd = message && message.cmd;
  if (cmd === 'pressed' && sender.tab && !fromExtensionPage) return onPressed(message, sender.tab);
  if (cmd === 'event' && sender.tab && !fromExtensionPage) return onCaptured(message, sender);
  if (cmd === 'status') return api.status();
  if (fromExtensionPage && cmd === 'start') return api.startSession(message.options);
  if (fromExtensionPage && cmd === 'stop') return api.stopSession(message.options);
  if (fromExtensionPage && cmd === 'discard') return api.discardSession();
  throw new Error(`message ${JSON.stringify(cmd)} is not accepted from ${sender.url || 'this sender'}`);
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  handleMessage(message, sender).then(
    (result) => sendResponse({ ok: true, result }),
    (error) => {
      console.error('codesight: message failed', { cmd: message && message.cmd, error: error.message });
      sendResponse({ ok: false, error: error.message });
    },
  );
  return true; // the answer is sent asynchronously
});

ready.catch((error) => console.error('codesight: could not restore the recording session', error));
