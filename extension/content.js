/*
 * Content script, in every frame: turns clicks, field changes and page loads into wire-v1
 * events (lab/capture/wire.py) for the service worker, which numbers them and adds
 * screenshots. Loaded after generator.js and page_capture.js (see manifest.json).
 * Captures nothing unless a session is recording (storage key `recording`).
 */
(function () {
  'use strict';

  if (globalThis.__codesightContentLoaded) return; // injected again by chrome.scripting: keep one copy
  globalThis.__codesightContentLoaded = true;

  const selectors = globalThis.codesightSelectors;
  const capture = globalThis.codesightCapture;
  const RECORDING_KEY = 'recording'; // recorder.js
  const IS_TOP = window.top === window;
  // A press's screenshot and selectors belong to the click that follows within this long.
  const PRESS_TTL_MS = 5000;
  // The click a <label> forwards to its control arrives within this long; it is the same click.
  const LABEL_FORWARD_MS = 100;
  // Typing settles into one input event after this pause (blur / change sends it at once).
  const TYPING_SETTLE_MS = 1000;
  // An in-page (SPA) navigation gets this long to render before the page is described.
  const SPA_SETTLE_MS = 400;
  // How often the top frame looks for pushState URL changes, which fire no event.
  const URL_POLL_MS = 500;
  const MAX_TEXT_CHARS = 200;
  const FIELD_TAGS = new Set(['input', 'select', 'textarea']);

  let recording = false;
  let pageSent = false;
  let press = null;
  let lastClick = null;
  let pressCount = 0;
  let lastUrl = location.href;
  const typing = new Map(); // field -> pending settle timer

  function send(message) {
    return chrome.runtime.sendMessage(message).then((reply) => {
      if (reply && reply.ok === false) console.warn('codesight: the extension refused an event', reply.error);
    }, (error) => {
      // After the extension is reloaded this orphaned script cannot reach it any more.
      console.warn('codesight: could not reach the extension', error.message);
    });
  }

  function sendEvent(event, extra) {
    return send({ cmd: 'event', event, ...extra });
  }

  /** The innermost element of an event, inside open shadow roots too. */
  function deepTarget(e) {
    const first = e.composedPath()[0];
    return first && first.nodeType === 1 ? first : e.target;
  }

  function generate(el) {
    try {
      return selectors.generate(el);
    } catch (error) {
      console.error('codesight: selector generation failed; the event is not recorded', error);
      return null;
    }
  }

  function related(a, b) {
    return a === b || a.contains(b) || b.contains(a);
  }

  // ---- clicks ----------------------------------------------------------------------------

  addEventListener('pointerdown', (e) => {
    if (!recording || !e.isTrusted || e.button !== 0) return;
    flushTyping();
    const clickId = `${Date.now().toString(36)}-${++pressCount}`;
    // First thing: the screenshot must be taken before this click can navigate away.
    send({ cmd: 'pressed', clickId });
    const el = deepTarget(e);
    press = { el, clickId, at: Date.now(), record: generate(el) };
  }, true);

  addEventListener('click', (e) => {
    if (!recording || !e.isTrusted) return;
    const el = deepTarget(e);
    const now = Date.now();
    const forwarded = lastClick && now - lastClick.at < LABEL_FORWARD_MS && lastClick.el.localName === 'label'
      && lastClick.el.control === el;
    lastClick = { el, at: now };
    if (forwarded) return;
    const pressed = press && now - press.at < PRESS_TTL_MS && related(press.el, el) ? press : null;
    press = null;
    const record = (pressed && pressed.record) || generate(el);
    if (!record) return;
    const fp = record.fingerprint;
    sendEvent({
      type: 'click',
      t: pressed ? pressed.at : now,
      url: location.href,
      target: { tag: fp.tag, text: (fp.text || fp.name || '').slice(0, MAX_TEXT_CHARS), role: fp.role || null },
      selectors: record,
      x: Math.round(e.clientX),
      y: Math.round(e.clientY),
    }, { clickId: pressed ? pressed.clickId : null });
  }, true);

  // ---- form fields (values masked in page_capture.js) -----------------------------------

  function sendField(el) {
    const timer = typing.get(el);
    if (timer) clearTimeout(timer);
    typing.delete(el);
    const record = generate(el);
    if (!record) return;
    sendEvent({
      type: 'input',
      t: Date.now(),
      url: location.href,
      selectors: record,
      field: capture.fieldSummary(el, record.fingerprint.name),
      value: capture.maskedValue(el),
    });
  }

  function flushTyping() {
    for (const el of [...typing.keys()]) sendField(el);
  }

  // Untrusted events count too: automation (Playwright's select_option) dispatches them.
  addEventListener('input', (e) => {
    const el = deepTarget(e);
    if (!recording || !FIELD_TAGS.has(el.localName)) return;
    clearTimeout(typing.get(el));
    typing.set(el, setTimeout(() => sendField(el), TYPING_SETTLE_MS));
  }, true);

  addEventListener('change', (e) => {
    const el = deepTarget(e);
    if (!recording || !FIELD_TAGS.has(el.localName)) return;
    // Already sent when typing settled and nothing was typed since: no second event.
    if (typing.has(el) || el.localName === 'select' || ['checkbox', 'radio'].includes(el.type)) sendField(el);
  }, true);

  addEventListener('submit', flushTyping, true);
  addEventListener('pagehide', flushTyping, true);
  addEventListener('keydown', (e) => { if (recording && e.key === 'Enter') flushTyping(); }, true);

  // ---- pages (top frame only) -------------------------------------------------------------

  function sendPage(kind, fromUrl) {
    sendEvent({ type: 'navigation', t: Date.now(), url: location.href, from_url: fromUrl || null, kind });
    sendEvent({
      type: 'page',
      t: Date.now(),
      url: location.href,
      title: document.title.slice(0, 500),
      structure: capture.pageStructure(document),
      viewport: { w: innerWidth, h: innerHeight },
    });
  }

  function whenLoaded(fn) {
    if (document.readyState === 'complete') fn();
    else addEventListener('load', fn, { once: true });
  }

  function onUrlMaybeChanged() {
    if (location.href === lastUrl) return;
    const from = lastUrl;
    lastUrl = location.href;
    if (!recording) return;
    const sameDocument = from.split('#')[0] === location.href.split('#')[0];
    setTimeout(() => { if (recording) sendPage(sameDocument ? 'hash' : 'history', from); }, SPA_SETTLE_MS);
  }

  function setRecording(on) {
    const started = on && !recording;
    recording = on;
    if (!on) pageSent = false;
    if (started && IS_TOP) {
      whenLoaded(() => {
        if (!recording || pageSent) return;
        pageSent = true;
        lastUrl = location.href;
        sendPage('load', document.referrer);
      });
    }
  }

  if (IS_TOP) setInterval(onUrlMaybeChanged, URL_POLL_MS);
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === 'local' && RECORDING_KEY in changes) setRecording(changes[RECORDING_KEY].newValue === true);
  });
  chrome.storage.local.get(RECORDING_KEY).then(
    (items) => setRecording(items[RECORDING_KEY] === true),
    (error) => console.error('codesight: could not read the recording state', error),
  );
})();
