// Service worker: receives what content scripts capture, numbers it, adds screenshots (with
// personal data painted over) and streams it to the CodeSight server (recorder.js), keeping
// every unacked event in IndexedDB. Automation drives it through globalThis.codesight with
// Playwright's worker.evaluate; the popup through messages.

import './privacy.js';
import { badgeFor } from './badge.js';
import { IdbStore } from './idb_store.js';
import { Recorder } from './recorder.js';
import {
  BURST_MAX_FRAMES, CaptureQueue, NEAR_DUPLICATE_BITS, PRIORITY_BURST, PRIORITY_MOMENT, encodeScreenshot, hammingDistance,
} from './screenshot.js';
import { MAX_URL_CHARS } from './wire.js';

const privacy = globalThis.codesightPrivacy;

// A screenshot taken at pointerdown waits this long for its click event, then is dropped.
const PRESS_SHOT_TTL_MS = 5000;
// A click reuses a capture of the same page requested this recently instead of waiting for the
// next quota slot (one per 550 ms), by which time the click may have navigated away.
const CLICK_SHOT_REUSE_MS = 700;
// ... and falls back to a capture of its page this old when no fresh one could be taken in time.
const CLICK_SHOT_FALLBACK_MS = 3000;
// A submit right after a captured press (the submit button's click) needs no screenshot of its own.
const SUBMIT_SHOT_REUSE_MS = 1000;
// A modal gets this long to finish its opening animation before it is photographed.
const MODAL_SETTLE_MS = 300;
// The page has this long to say where its personal data is before a capture; silence drops the shot.
const MASKS_TIMEOUT_MS = 700;
// While a session exists an alarm wakes the worker this often, so queued events keep retrying
// even when nothing else happens (alarms fire at most every 30 s).
const KEEPALIVE_ALARM = 'codesight-keepalive';
const KEEPALIVE_PERIOD_MIN = 0.5;
// Audio: one standalone WebM/Opus file per segment, so a lost worker loses at most one segment.
const AUDIO_SEGMENT_MS = 30_000;
const SCOPE_KEY = 'scope'; // content.js
const CONSENT_KEY = 'consent';
const ECHOES_KEY = 'echoes';
const AUDIO_KEY = 'audio';
// What the session stopped last sent (the popup shows it once the session is gone): {id, status, counts, events, endedAt}.
const LAST_SESSION_KEY = 'lastSession';
// Messages content scripts also leave in chrome.storage.session (content.js deliver()).
const OUTBOX_PREFIX = 'outbox:';
const OUTBOX_GRACE_MS = 1000;

const recorder = new Recorder({
  storage: new IdbStore('codesight'),
  flags: chrome.storage.local,
  fetch: (...args) => fetch(...args),
  WebSocket,
  onChange: onStatusChange,
});
const captures = new CaptureQueue({ captureVisibleTab: captureWithMasks });
// `${tabId}:${clickId}` -> promise of the screenshot requested when that click was pressed.
const pressShots = new Map();
// tabId -> the latest capture requested for it: {url, at, promise}.
const recentShots = new Map();
// tabId -> the latest capture that succeeded: {url, at, shot}.
const lastGoodShots = new Map();
// tabId -> the navigation burst running in it: {pageSeq, cancelled}.
const bursts = new Map();
// Screenshot work in progress; flush and stop wait for it so no screenshot is left behind.
const screenshotTasks = new Set();
const screenshotStats = { taken: 0, skipped: 0, errors: 0, duplicates: 0, bursts: 0, stable: 0, masked: 0, lastError: null };
// The top-frame URL of the last page recorded: audio segments are filed under it.
let lastPageUrl = null;
// What was typed into sensitive fields, per tab: salted hashes in chrome.storage.session
// (memory only, survives a worker restart, never written to disk, never sent).
let echoState = { salt: 0, tabs: {} };
let scope = null;
let alarmOn = false;

const ready = (async () => {
  // Content scripts may write their outbox there (never read what they do not own: the echoes
  // hold only salted hashes).
  await chrome.storage.session.setAccessLevel({ accessLevel: 'TRUSTED_AND_UNTRUSTED_CONTEXTS' });
  await recorder.adoptLegacy(chrome.storage.local);
  const [, session, local] = await Promise.all([
    recorder.restore(),
    chrome.storage.session.get(ECHOES_KEY),
    chrome.storage.local.get([SCOPE_KEY]),
  ]);
  echoState = session[ECHOES_KEY] || { salt: Math.floor(Math.random() * 2 ** 31), tabs: {} };
  scope = local[SCOPE_KEY] || null;
  await chrome.storage.session.set({ [ECHOES_KEY]: echoState });
})();

// ---- status: badge, keepalive ------------------------------------------------------------

function onStatusChange(status) {
  showBadge(status);
  const want = !!status.sessionId;
  if (want !== alarmOn) {
    alarmOn = want;
    const done = want ? chrome.alarms.create(KEEPALIVE_ALARM, { periodInMinutes: KEEPALIVE_PERIOD_MIN }) : chrome.alarms.clear(KEEPALIVE_ALARM);
    Promise.resolve(done).catch((error) => console.error('codesight: keepalive alarm', error));
  }
}

function showBadge(status) {
  const report = (error) => console.error('codesight: badge update failed', error);
  const { text, color, title } = badgeFor(status);
  chrome.action.setBadgeText({ text }).catch(report);
  chrome.action.setBadgeBackgroundColor({ color }).catch(report);
  chrome.action.setTitle({ title }).catch(report);
}

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name !== KEEPALIVE_ALARM) return;
  ready.then(() => recorder.kick(), (error) => console.error('codesight: keepalive', error));
});

// ---- scope and echoes -----------------------------------------------------------------------

function inScope(url) {
  if (!scope) return true;
  try {
    return Array.isArray(scope.hosts) && scope.hosts.includes(new URL(url).hostname);
  } catch {
    return false;
  }
}

function echoesFor(tabId) {
  return { salt: echoState.salt, hashes: new Set(echoState.tabs[tabId] || []) };
}

function addEchoes(tabId, hashes) {
  const known = new Set(echoState.tabs[tabId] || []);
  const fresh = hashes.filter((h) => typeof h === 'string' && !known.has(h));
  if (!fresh.length) return;
  echoState.tabs[tabId] = [...known, ...fresh];
  chrome.storage.session.set({ [ECHOES_KEY]: echoState }).catch((error) => console.error('codesight: echoes', error));
  // Every frame of the tab masks them from now on, not only the one they were typed in.
  chrome.tabs.sendMessage(tabId, { cmd: 'echoes-add', hashes: fresh }).catch(() => {});
}

chrome.tabs.onRemoved.addListener((tabId) => {
  recentShots.delete(tabId);
  lastGoodShots.delete(tabId);
  cancelBurst(tabId);
  if (echoState.tabs[tabId]) {
    delete echoState.tabs[tabId];
    chrome.storage.session.set({ [ECHOES_KEY]: echoState }).catch((error) => console.error('codesight: echoes', error));
  }
});

// ---- screenshots ------------------------------------------------------------------------------

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); })]).finally(() => clearTimeout(timer));
}

/** Where the page's personal data is on screen now (content.js), or null when it does not say. */
function askMasks(tabId) {
  return withTimeout(chrome.tabs.sendMessage(tabId, { cmd: 'masks' }, { frameId: 0 }).catch(() => null), MASKS_TIMEOUT_MS);
}

/**
 * One capture of `tab` as it was requested: the page's masks just before and just after it
 * (a scroll in between is covered). Null when the tab is no longer the visible one, or another
 * page than the requested one answered (it moved on while the capture waited for its slot).
 */
async function captureWithMasks(tab) {
  const before = await askMasks(tab.id);
  if (!before || !Array.isArray(before.boxes)) {
    screenshotStats.lastError = 'the page did not report its sensitive boxes; screenshot dropped';
    return null; // fail closed: no masks, no picture
  }
  if (before.url !== tab.url || !(await chrome.tabs.get(tab.id)).active) return null;
  const at = Date.now();
  const png = await chrome.tabs.captureVisibleTab(tab.windowId, { format: 'png' });
  // A click that navigates races the capture: the picture shows this page (Chrome holds its paint
  // until the next one is ready) or, rarely, the next. Both pages' boxes are painted: `after` is
  // the next page's when it already answers, nothing when it is still loading.
  const after = await askMasks(tab.id);
  if (!(await chrome.tabs.get(tab.id)).active) return null;
  const boxes = [...before.boxes, ...(after && Array.isArray(after.boxes) ? after.boxes : [])];
  return { png, boxes, viewport: before.viewport, at };
}

/**
 * A WebP screenshot of the tab when it is the visible one in its window and in scope; null
 * otherwise. With `reuseMs`, a capture of the same URL requested that recently is shared.
 */
async function shootTab(tabId, { reuseMs = 0, priority = PRIORITY_MOMENT, maxWaitMs } = {}) {
  const tab = await chrome.tabs.get(tabId);
  if (!tab.active || !tab.url || !inScope(tab.url)) return null;
  const recent = recentShots.get(tabId);
  if (reuseMs && recent && recent.url === tab.url && Date.now() - recent.at < reuseMs) {
    const shot = await recent.promise;
    if (shot) return shot;
  }
  const promise = captureVisible(tab, priority, maxWaitMs);
  // Its failure reaches this caller; a later click that shares it just takes its own capture.
  recentShots.set(tabId, { url: tab.url, at: Date.now(), promise: promise.catch(() => null) });
  return promise;
}

/** Null when the tab moved on while the capture waited its turn (see captureWithMasks). */
async function captureVisible(tab, priority, maxWaitMs) {
  const tabId = tab.id;
  const taken = await captures.capture(tab, { priority, ...(maxWaitMs ? { maxWaitMs } : {}) });
  if (!taken) return null;
  const t = taken.at;
  const encoded = await encodeScreenshot(taken.png, { boxes: taken.boxes, viewport: taken.viewport });
  const url = privacy.maskUrl(tab.url, echoesFor(tabId)).slice(0, MAX_URL_CHARS);
  const shot = { t, url, ...encoded };
  lastGoodShots.set(tabId, { url: tab.url, at: t, shot });
  return shot;
}

/**
 * The screenshot before a click: a fresh capture, or, when the click navigated away before a
 * quota slot came, the page's latest good capture if it is recent enough to show the moment.
 */
function requestClickShot(tabId, pageUrl) {
  const pressedAt = Date.now();
  return requestShot(tabId, { reuseMs: CLICK_SHOT_REUSE_MS }).then((shot) => {
    if (shot && !shot.error) return shot;
    const good = lastGoodShots.get(tabId);
    if (good && good.url === pageUrl && pressedAt - good.at < CLICK_SHOT_FALLBACK_MS) return good.shot;
    return shot;
  });
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

function usable(shot, reason, forSeq) {
  if (!shot) { screenshotStats.skipped += 1; return false; }
  if (shot.error) {
    screenshotStats.errors += 1;
    screenshotStats.lastError = String(shot.error.message || shot.error);
    console.warn('codesight: screenshot failed', { reason, forSeq, error: screenshotStats.lastError });
    return false;
  }
  return true;
}

async function recordShot(shotRequest, reason, forSeq, extra = {}) {
  const shot = await shotRequest;
  if (!usable(shot, reason, forSeq)) return null;
  screenshotStats.taken += 1;
  if (shot.masked_boxes) screenshotStats.masked += 1;
  const { t, url, image, width, height, dhash, masked_boxes: maskedBoxes } = shot;
  return recorder.record({
    type: 'screenshot', t, url, reason, for_seq: forSeq, image, width, height, dhash, masked_boxes: maskedBoxes, ...extra,
  });
}

function cancelBurst(tabId) {
  const burst = bursts.get(tabId);
  if (burst) burst.cancelled = true;
  bursts.delete(tabId);
}

/**
 * Frames of a page while it settles, one per quota slot: a frame nearly identical to the one
 * before it is dropped, and that one is marked `stable` (the page stopped changing there).
 * Ends early when the participant acts, the page changes, or the session stops.
 */
async function navigationBurst(tabId, pageSeq) {
  cancelBurst(tabId);
  const burst = { pageSeq, cancelled: false };
  bursts.set(tabId, burst);
  screenshotStats.bursts += 1;
  let pending = null;
  let frame = 0;
  const keep = (shot, stable) => recordShot(shot, 'navigation', pageSeq, { burst: pageSeq, frame: frame++, stable });
  try {
    for (let i = 0; i < BURST_MAX_FRAMES && !burst.cancelled && recorder.status().recording; i++) {
      const shot = await requestShot(tabId, { priority: PRIORITY_BURST });
      if (burst.cancelled) break;
      if (!shot || shot.error) {
        usable(shot, 'navigation', pageSeq);
        break;
      }
      if (pending && hammingDistance(shot.dhash, pending.dhash) <= NEAR_DUPLICATE_BITS) {
        screenshotStats.duplicates += 1;
        screenshotStats.stable += 1;
        await keep(pending, true);
        pending = null;
        return;
      }
      if (pending) await keep(pending, false);
      pending = shot;
    }
    // The budget ran out (or the participant moved on) before two frames agreed: not marked stable.
    if (pending) await keep(pending, false);
  } finally {
    if (bursts.get(tabId) === burst) bursts.delete(tabId);
  }
}

async function settleScreenshots() {
  while (screenshotTasks.size) await Promise.all([...screenshotTasks]);
}

function onPressed({ clickId }, tab) {
  if (!recorder.status().recording || !inScope(tab.url)) return { recording: false };
  cancelBurst(tab.id); // the participant acts: their moment goes first
  const key = `${tab.id}:${clickId}`;
  pressShots.set(key, requestClickShot(tab.id, tab.url));
  setTimeout(() => pressShots.delete(key), PRESS_SHOT_TTL_MS);
  return { recording: true };
}

/** The event as it will be stored: masked once more with the tab's echoes, URL cut to the wire's limit. */
function sealed(event, tabId) {
  const echoes = echoesFor(tabId);
  const { selectors, url, ...rest } = event;
  const out = privacy.maskDeep(rest, echoes);
  out.url = privacy.maskUrl(String(url), echoes).slice(0, MAX_URL_CHARS);
  if (selectors && Array.isArray(selectors.candidates)) out.selectors = privacy.maskSelectorRecord(selectors, echoes);
  return out;
}

async function onCaptured({ event, clickId, key }, sender) {
  const tab = sender.tab;
  if (!inScope(sender.url || tab.url)) return { recorded: false, reason: 'site not in this session' };
  const before = recorder.status().nextSeq;
  const seq = await recorder.record(sealed(event, tab.id), { key: typeof key === 'string' ? key : null });
  if (seq === null) return { recorded: false };
  if (before !== null && seq < before) return { recorded: true, seq, duplicate: true }; // a retry: handled the first time
  if (event.type === 'click') {
    const key = `${tab.id}:${clickId}`;
    const shot = pressShots.get(key) || requestClickShot(tab.id, tab.url);
    pressShots.delete(key);
    track(recordShot(shot, 'click', seq));
  } else if (event.type === 'page' && sender.frameId === 0) {
    lastPageUrl = privacy.maskUrl(String(event.url), echoesFor(tab.id)).slice(0, MAX_URL_CHARS);
    track(navigationBurst(tab.id, seq));
  } else if (event.type === 'submit') {
    const recent = recentShots.get(tab.id);
    if (!recent || Date.now() - recent.at > SUBMIT_SHOT_REUSE_MS) track(recordShot(requestShot(tab.id), 'submit', seq));
  } else if (event.type === 'modal' && event.state === 'open' && sender.frameId === 0) {
    track(new Promise((resolve) => setTimeout(resolve, MODAL_SETTLE_MS)).then(() => recordShot(requestShot(tab.id), 'modal', seq)));
  }
  return { recorded: true, seq };
}

// ---- the outbox: messages whose page may be gone --------------------------------------------------

let draining = Promise.resolve();

/** Handle every message left in the outbox (once each: events by key, echoes are a set), then drop them. */
function drainOutbox() {
  draining = draining.then(async () => {
    const all = await chrome.storage.session.get(null);
    const entries = Object.entries(all).filter(([key]) => key.startsWith(OUTBOX_PREFIX)).sort((a, b) => a[1].at - b[1].at);
    for (const [key, entry] of entries) {
      try {
        await fromOutbox(entry);
      } catch (error) {
        console.error('codesight: an outbox message could not be handled', { cmd: entry.cmd, error: error.message });
      }
      await chrome.storage.session.remove(key);
    }
  }).catch((error) => console.error('codesight: outbox', error));
  return draining;
}

async function fromOutbox(entry) {
  if (!Number.isInteger(entry.tabId)) return;
  if (entry.cmd === 'typed' && Array.isArray(entry.hashes)) { addEchoes(entry.tabId, entry.hashes); return; }
  if (entry.cmd !== 'event') return;
  const tab = await chrome.tabs.get(entry.tabId).catch(() => ({ id: entry.tabId, url: entry.url }));
  await onCaptured(entry, { tab, frameId: entry.frameId, url: entry.url });
}

function clearOutbox(key) {
  if (typeof key === 'string') chrome.storage.session.remove(`${OUTBOX_PREFIX}${key}`).catch(() => {});
}

let drainTimer = null;

// A new outbox entry (which also wakes a stopped worker): its message normally arrives at once
// and clears it; whatever is still there a moment later is handled from the outbox.
chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== 'session' || drainTimer) return;
  if (!Object.entries(changes).some(([key, change]) => key.startsWith(OUTBOX_PREFIX) && change.newValue)) return;
  drainTimer = setTimeout(() => {
    drainTimer = null;
    ready.then(drainOutbox, () => {});
  }, OUTBOX_GRACE_MS);
});

// ---- audio (offscreen document) ---------------------------------------------------------------

async function startAudio() {
  const existing = await chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] });
  if (!existing.length) {
    await chrome.offscreen.createDocument({
      url: 'offscreen.html',
      reasons: ['USER_MEDIA'],
      justification: 'Records the participant\'s microphone while they chose audio for this session.',
    });
  }
  const reply = await chrome.runtime.sendMessage({ target: 'offscreen', cmd: 'audio-start', segmentMs: AUDIO_SEGMENT_MS });
  if (!reply || !reply.ok) throw new Error(`audio: ${reply ? reply.error : 'the recorder page did not answer'}`);
  await chrome.storage.local.set({ [AUDIO_KEY]: { on: true, at: Date.now() } });
}

async function stopAudio() {
  const existing = await chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] });
  if (existing.length) {
    const reply = await chrome.runtime.sendMessage({ target: 'offscreen', cmd: 'audio-stop' });
    if (reply && !reply.ok) console.error('codesight: audio stop', reply.error);
    await chrome.offscreen.closeDocument();
  }
  await chrome.storage.local.remove(AUDIO_KEY);
}

async function onAudioSegment({ data, durationMs, index, startedAt }) {
  if (typeof data !== 'string' || !data.startsWith('data:audio/webm')) throw new Error('audio: expected a WebM data URL');
  const seq = await recorder.record({
    type: 'audio', t: startedAt || Date.now(), url: lastPageUrl || 'about:blank', data, mime: 'audio/webm;codecs=opus',
    duration_ms: Math.max(0, Math.round(durationMs || 0)), segment: index,
  });
  return { recorded: seq !== null, seq };
}

// ---- API ------------------------------------------------------------------------------------------

const api = {
  /**
   * Open a session on `server` and record into it; resolves to the server's `{id, ws_url}`.
   * `allowedHosts` limits capture to those sites (null: every site); a human session needs
   * the participant's consent (the popup asks for it once); `audio` records the microphone.
   */
  async startSession({ server, token, site, siteVersion = null, mode = 'human', startUrl = null, allowedHosts = null, audio = false } = {}) {
    await ready;
    if (mode === 'human') {
      const consent = (await chrome.storage.local.get(CONSENT_KEY))[CONSENT_KEY];
      if (!consent || !consent.at) throw new Error('consent: the participant has not agreed to recording yet (open the popup)');
    }
    if (allowedHosts !== null && (!Array.isArray(allowedHosts) || !allowedHosts.length)) {
      throw new Error('allowedHosts: expected a non-empty list of host names, or null for every site');
    }
    scope = allowedHosts ? { hosts: allowedHosts.map(String) } : null;
    await chrome.storage.local.set({ [SCOPE_KEY]: scope });
    const opened = await recorder.start({ server, token, site, siteVersion, mode, startUrl, userAgent: navigator.userAgent });
    if (audio) await startAudio();
    return opened;
  },
  /** Stop capturing, wait until every event is acked, then complete the session. */
  async stopSession({ timeoutMs } = {}) {
    await ready;
    return recorder.stop({
      timeoutMs,
      beforeFlush: async () => {
        for (const tabId of [...bursts.keys()]) cancelBurst(tabId);
        await stopAudio();
        await settleScreenshots();
      },
    }).then(async (result) => {
      await chrome.storage.local.remove(SCOPE_KEY);
      scope = null;
      const { id, status, counts, events } = result;
      await chrome.storage.local.set({ [LAST_SESSION_KEY]: { id, status, counts, events, endedAt: Date.now() } });
      return result;
    });
  },
  async pauseSession() {
    await ready;
    for (const tabId of [...bursts.keys()]) cancelBurst(tabId);
    return recorder.pause();
  },
  async resumeSession() {
    await ready;
    return recorder.resume();
  },
  /** Forget the local session (and its unsent events) without completing it. */
  async discardSession() {
    await ready;
    await stopAudio();
    await chrome.storage.local.remove(SCOPE_KEY);
    scope = null;
    return recorder.discard();
  },
  /** What the popup and tests read; waits for the restore after a worker or browser restart. */
  async status() {
    await ready;
    return {
      ...recorder.status(),
      pendingScreenshots: screenshotTasks.size,
      screenshots: { ...screenshotStats },
      scope,
    };
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
    if (!shot) throw new Error(`captureTab: tab ${id} is not the visible tab of its window (or it did not report its masks)`);
    return shot;
  },
  /** Record that the participant agreed to recording (the popup's consent screen). */
  async giveConsent({ version = 1 } = {}) {
    const consent = { at: Date.now(), version };
    await chrome.storage.local.set({ [CONSENT_KEY]: consent });
    return consent;
  },
};
globalThis.codesight = api;

// Content scripts send what they capture; only extension pages (the popup, the offscreen
// recorder) may control the session.
async function handleMessage(message, sender) {
  await ready;
  const fromExtensionPage = sender.id === chrome.runtime.id && String(sender.url).startsWith(chrome.runtime.getURL(''));
  const cmd = message && message.cmd;
  const fromPage = sender.tab && !fromExtensionPage;
  if (cmd === 'pressed' && fromPage) return onPressed(message, sender.tab);
  if (cmd === 'event' && fromPage) {
    const result = await onCaptured(message, sender);
    clearOutbox(message.key);
    return result;
  }
  if (cmd === 'typed' && fromPage && Array.isArray(message.hashes)) {
    addEchoes(sender.tab.id, message.hashes);
    clearOutbox(message.key);
    return { ok: true };
  }
  if (cmd === 'echoes' && fromPage) {
    await drainOutbox(); // what the previous page typed, if its message is still in the outbox
    return { salt: echoState.salt, hashes: echoState.tabs[sender.tab.id] || [], tabId: sender.tab.id, frameId: sender.frameId };
  }
  if (cmd === 'status') return api.status();
  if (fromExtensionPage && cmd === 'audio-segment') return onAudioSegment(message);
  if (fromExtensionPage && cmd === 'start') return api.startSession(message.options);
  if (fromExtensionPage && cmd === 'stop') return api.stopSession(message.options);
  if (fromExtensionPage && cmd === 'pause') return api.pauseSession();
  if (fromExtensionPage && cmd === 'resume') return api.resumeSession();
  if (fromExtensionPage && cmd === 'discard') return api.discardSession();
  if (fromExtensionPage && cmd === 'consent') return api.giveConsent(message.options);
  throw new Error(`message ${JSON.stringify(cmd)} is not accepted from ${sender.url || 'this sender'}`);
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message && message.target === 'offscreen') return false; // for the offscreen document, not us
  handleMessage(message, sender).then(
    (result) => sendResponse({ ok: true, result }),
    (error) => {
      console.error('codesight: message failed', { cmd: message && message.cmd, error: error.message });
      sendResponse({ ok: false, error: error.message });
    },
  );
  return true; // the answer is sent asynchronously
});

// The network came back: retry now rather than at the end of the backoff.
globalThis.addEventListener('online', () => ready.then(() => recorder.kick()));

ready.then(drainOutbox, (error) => console.error('codesight: could not restore the recording session', error));
