/*
 * Content script, in every frame: turns what the participant does into wire-v1 events
 * (lab/capture/wire.py) for the service worker, which numbers them and adds screenshots.
 * Loaded after generator.js, privacy.js, page_capture.js, snapshot.js and modals.js (see
 * manifest.json); main_world.js announces SPA history changes from the page's world.
 *
 * Captures nothing unless a session is recording (storage key `recording`) and this site
 * is in the session's scope (storage key `scope`: {hosts} or null for every site).
 * Every event is masked here before it leaves the page (privacy.js): typed values by field
 * category, personal patterns anywhere, and echoes of what was typed into sensitive
 * fields in this tab (salted hashes, kept by the service worker in memory only).
 */
(function () {
  'use strict';

  if (globalThis.__codesightContentLoaded) return; // injected again by chrome.scripting: keep one copy
  globalThis.__codesightContentLoaded = true;

  const selectors = globalThis.codesightSelectors;
  const capture = globalThis.codesightCapture;
  const privacy = globalThis.codesightPrivacy;
  const snapshot = globalThis.codesightSnapshot;
  const modals = globalThis.codesightModals;
  const RECORDING_KEY = 'recording'; // recorder.js
  const SCOPE_KEY = 'scope'; // background.js
  const IS_TOP = window.top === window;
  // A press's screenshot and selectors belong to the click that follows within this long.
  const PRESS_TTL_MS = 5000;
  // The click a <label> forwards to its control arrives within this long; it is the same click.
  const LABEL_FORWARD_MS = 100;
  // Typing settles into one input event after this pause (blur / change sends it at once).
  const TYPING_SETTLE_MS = 1000;
  // An in-page (SPA) navigation gets this long to render before the page is described.
  const SPA_SETTLE_MS = 400;
  // Fallback check for URL changes nothing announced (main_world.js covers history and navigation).
  const URL_POLL_MS = 1000;
  // Scrolling: at most one event per interval while it goes on, one more when it stops.
  const SCROLL_THROTTLE_MS = 1000;
  const SCROLL_SETTLE_MS = 300;
  const MIN_SCROLL_PX = 40;
  // Hovering an interactive element this long before leaving or clicking it is hesitation.
  const DWELL_MIN_MS = 500;
  const HIGHLIGHT_MS = 450;
  const MAX_TEXT_CHARS = 200;
  const FIELD_TAGS = new Set(['input', 'select', 'textarea']);
  const SPECIAL_KEYS = new Set(['Enter', 'Escape', 'Tab']);
  const INTERACTIVE = 'a[href], button, input, select, textarea, summary, label, [role=button], [role=link], [role=checkbox], [role=radio], [role=tab], [role=menuitem], [role=option], [role=switch], [onclick]';
  // Text nodes scanned for personal data when a screenshot is about to be taken.
  const MAX_MASK_TEXT_NODES = 20_000;

  let sessionOn = false;
  let scope = null;
  let recording = false;
  let pageSent = false;
  let press = null;
  let lastClick = null;
  let pressCount = 0;
  let lastUrl = location.href;
  let detector = null;
  let hover = null;
  let highlightHost = null;
  const typing = new Map(); // field -> pending settle timer
  const echoes = { salt: 0, hashes: new Set() };
  // Which tab and frame this is, as the service worker sees it (outbox entries carry it).
  const self = { tabId: null, frameId: null };
  const echoesReady = ask({ cmd: 'echoes' }).then((reply) => {
    if (reply) {
      echoes.salt = reply.salt;
      for (const h of reply.hashes) echoes.hashes.add(h);
      Object.assign(self, { tabId: reply.tabId, frameId: reply.frameId });
    }
  });

  // A worker being restarted by Chrome does not answer for a moment: retry (doubling) this often.
  const SEND_ATTEMPTS = 7;
  const SEND_RETRY_MS = 100;
  const WORKER_GONE = /Receiving end does not exist|Could not establish connection|message port closed|message channel closed/i;

  /**
   * Send a message to the service worker; resolves to its result, or null when it refused or is
   * gone for good. Messages are retried while the worker restarts; events carry a key so a
   * retried one is stored once.
   */
  async function ask(message) {
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await chrome.runtime.sendMessage(message);
        if (reply && reply.ok === false) {
          console.warn('codesight: the extension refused a message', message.cmd, reply.error);
          return null;
        }
        return reply ? reply.result : null;
      } catch (error) {
        // After the extension is reloaded this orphaned script cannot reach it any more.
        if (!WORKER_GONE.test(error.message) || attempt >= SEND_ATTEMPTS) {
          console.warn('codesight: could not reach the extension', message.cmd, error.message);
          return null;
        }
        await new Promise((resolve) => setTimeout(resolve, SEND_RETRY_MS * 2 ** (attempt - 1)));
      }
    }
  }

  let emitted = 0;
  const PAGE_KEY = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const OUTBOX_PREFIX = 'outbox:'; // background.js

  /**
   * Hand a message to the service worker so that it arrives even when this page unloads first
   * (a click that navigates while Chrome restarts the worker): it is written to the session
   * outbox, which the browser keeps and which wakes the worker, then sent directly. The worker
   * stores it once whichever way reaches it first.
   */
  async function deliver(message) {
    const key = `${OUTBOX_PREFIX}${message.key}`;
    const entry = { ...message, tabId: self.tabId, frameId: self.frameId, url: location.href, at: Date.now() };
    await chrome.storage.session.set({ [key]: entry }).catch(() => {
      // The worker has not opened the session store to content scripts yet: the message alone goes.
    });
    return ask(message);
  }

  /** Mask an event for personal data (privacy.js) and hand it to the service worker. */
  async function emit(event, extra) {
    await echoesReady;
    const { selectors: record, url, ...rest } = event;
    const masked = privacy.maskDeep(rest, echoes);
    masked.url = privacy.maskUrl(url, echoes);
    if (record) masked.selectors = privacy.maskSelectorRecord(record, echoes);
    return deliver({ cmd: 'event', event: masked, key: `${PAGE_KEY}:${++emitted}`, ...extra });
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

  function targetSummary(record) {
    const fp = record.fingerprint;
    return { tag: fp.tag, text: (fp.text || fp.name || '').slice(0, MAX_TEXT_CHARS), role: fp.role || null };
  }

  function related(a, b) {
    return a === b || a.contains(b) || b.contains(a);
  }

  // ---- clicks ----------------------------------------------------------------------------

  addEventListener('pointerdown', (e) => {
    if (!recording || !e.isTrusted || e.button !== 0) return;
    if (detector) detector.flush(); // a modal this click dismisses is seen open first
    flushTyping();
    const clickId = `${Date.now().toString(36)}-${++pressCount}`;
    // First thing: the screenshot must be taken before this click can navigate away.
    ask({ cmd: 'pressed', clickId });
    const el = deepTarget(e);
    endDwell('click', el);
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
    emit({
      type: 'click',
      t: pressed ? pressed.at : now,
      url: location.href,
      target: targetSummary(record),
      selectors: record,
      x: Math.round(e.clientX),
      y: Math.round(e.clientY),
    }, { clickId: pressed ? pressed.clickId : null }).then((reply) => { if (reply && reply.recorded) highlight(el); });
  }, true);

  addEventListener('dblclick', (e) => {
    if (!recording || !e.isTrusted) return;
    const record = generate(deepTarget(e));
    if (!record) return;
    emit({
      type: 'dblclick', t: Date.now(), url: location.href, target: targetSummary(record), selectors: record,
      x: Math.round(e.clientX), y: Math.round(e.clientY),
    });
  }, true);

  /** A brief outline around what was clicked, in a closed shadow root the page cannot style or read. */
  function highlight(el) {
    if (!el.isConnected || typeof el.getBoundingClientRect !== 'function') return;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) return;
    const host = document.createElement('codesight-highlight');
    host.style.cssText = 'all:initial;position:fixed;left:0;top:0;width:0;height:0;pointer-events:none;z-index:2147483647';
    const box = document.createElement('div');
    box.style.cssText = `position:fixed;left:${r.left - 3}px;top:${r.top - 3}px;width:${r.width + 6}px;height:${r.height + 6}px;`
      + 'box-sizing:border-box;border:2px solid #dc2626;border-radius:6px;box-shadow:0 0 0 4px rgba(220,38,38,.2);'
      + 'pointer-events:none;transition:opacity 200ms ease-out';
    host.attachShadow({ mode: 'closed' }).append(box);
    (document.body || document.documentElement).append(host);
    highlightHost = host;
    setTimeout(() => { box.style.opacity = '0'; }, HIGHLIGHT_MS - 200);
    setTimeout(() => { host.remove(); if (highlightHost === host) highlightHost = null; }, HIGHLIGHT_MS);
  }

  // ---- form fields (values masked in privacy.js) ------------------------------------------

  /** Remember what was typed into a sensitive field so the page cannot show it back unmasked. */
  async function rememberTyped(el, share) {
    const value = typeof el.value === 'string' ? el.value : '';
    if (!value) return;
    const category = privacy.fieldCategory(el);
    if (!privacy.isSensitiveCategory(category) && !privacy.neverCaptured(category) && !privacy.valueCategory(value)) return;
    await echoesReady;
    const hashes = privacy.echoHashes(value, echoes.salt);
    for (const h of hashes) echoes.hashes.add(h);
    // Shared once typing settles (the service worker keeps the tab's set for its next pages).
    if (share && hashes.length) deliver({ cmd: 'typed', hashes, key: `${PAGE_KEY}:t${++emitted}` });
  }

  function sendField(el, trigger) {
    const timer = typing.get(el);
    if (timer) clearTimeout(timer);
    typing.delete(el);
    rememberTyped(el, true);
    const record = generate(el);
    if (!record) return;
    emit({
      type: 'input',
      t: Date.now(),
      url: location.href,
      selectors: record,
      field: capture.fieldSummary(el, record.fingerprint.name),
      value: capture.maskedValue(el),
      trigger,
    });
  }

  function flushTyping() {
    for (const el of [...typing.keys()]) sendField(el, 'input');
  }

  // Untrusted events count too: automation (Playwright's select_option) dispatches them.
  addEventListener('input', (e) => {
    const el = deepTarget(e);
    if (!recording || !FIELD_TAGS.has(el.localName)) return;
    rememberTyped(el, false);
    clearTimeout(typing.get(el));
    typing.set(el, setTimeout(() => sendField(el, 'input'), TYPING_SETTLE_MS));
  }, true);

  addEventListener('change', (e) => {
    const el = deepTarget(e);
    if (!recording || !FIELD_TAGS.has(el.localName)) return;
    if (el.localName === 'select') sendField(el, 'select');
    else if (['checkbox', 'radio'].includes(el.type)) sendField(el, 'change');
    // Already sent when typing settled and nothing was typed since: no second event.
    else if (typing.has(el)) sendField(el, 'change');
  }, true);

  addEventListener('submit', (e) => {
    if (!recording) return;
    flushTyping();
    const form = deepTarget(e);
    if (!form || form.localName !== 'form') return;
    const submitter = e.submitter || null;
    emit({
      type: 'submit',
      t: Date.now(),
      url: location.href,
      selectors: generate(form) || undefined,
      form: capture.formSummary(form),
      submitter: submitter ? (submitter.localName === 'input' ? submitter.value : submitter.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 80) : null,
    });
  }, true);

  addEventListener('pagehide', () => {
    flushTyping();
    endDwell('leave');
  }, true);

  // ---- keys, hover dwell, scroll, visibility --------------------------------------------

  addEventListener('keydown', (e) => {
    if (!recording || !SPECIAL_KEYS.has(e.key) || e.repeat) return;
    if (detector) detector.flush();
    if (e.key === 'Enter') flushTyping();
    const el = deepTarget(e);
    const onElement = el && el !== document.body && el !== document.documentElement;
    const record = onElement ? generate(el) : null;
    emit({
      type: 'key',
      t: Date.now(),
      url: location.href,
      key: e.key,
      modifiers: ['shift', 'ctrl', 'alt', 'meta'].filter((m) => e[`${m}Key`]),
      target: record ? targetSummary(record) : { tag: el ? el.localName : '', text: '', role: null },
      field: el && FIELD_TAGS.has(el.localName) ? capture.fieldSummary(el, record ? record.fingerprint.name : '') : undefined,
      selectors: record || undefined,
    });
  }, true);

  function interactiveOf(el) {
    return el && el.closest ? el.closest(INTERACTIVE) : null;
  }

  addEventListener('pointerover', (e) => {
    if (!recording || !e.isTrusted || e.pointerType === 'touch') return;
    const el = interactiveOf(deepTarget(e));
    if (hover && hover.el === el) return;
    endDwell('leave');
    if (el) hover = { el, at: Date.now() };
  }, true);

  /** A dwell event when the pointer rested long enough on an interactive element. */
  function endDwell(reason, clicked) {
    const h = hover;
    hover = null;
    if (!h || !recording) return;
    const ms = Date.now() - h.at;
    if (ms < DWELL_MIN_MS || !h.el.isConnected) return;
    const endedBy = reason === 'click' && clicked && related(h.el, clicked) ? 'click' : 'leave';
    const record = generate(h.el);
    if (!record) return;
    emit({
      type: 'dwell', t: h.at, url: location.href, target: targetSummary(record), duration_ms: ms, ended_by: endedBy,
      // The click that ended it carries the selectors already.
      selectors: endedBy === 'click' ? undefined : record,
    });
  }

  const scroll = { lastY: 0, lastSentAt: 0, maxDepth: 0, trailing: null };

  function pageHeight() {
    return Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0, innerHeight);
  }

  function sendScroll() {
    clearTimeout(scroll.trailing);
    scroll.trailing = null;
    const y = Math.round(scrollY);
    if (Math.abs(y - scroll.lastY) < MIN_SCROLL_PX) return;
    const height = pageHeight();
    const depth = Math.min(100, Math.round(((y + innerHeight) / height) * 100));
    scroll.maxDepth = Math.max(scroll.maxDepth, depth);
    const direction = y > scroll.lastY ? 'down' : 'up';
    scroll.lastY = y;
    scroll.lastSentAt = Date.now();
    emit({
      type: 'scroll', t: Date.now(), url: location.href, y, x: Math.round(scrollX), direction,
      depth_pct: depth, max_depth_pct: scroll.maxDepth, page_height: height, viewport_h: innerHeight,
    });
  }

  function resetScroll() {
    scroll.lastY = Math.round(scrollY);
    scroll.maxDepth = Math.min(100, Math.round(((scrollY + innerHeight) / pageHeight()) * 100));
  }

  addEventListener('scroll', () => {
    if (!recording || !IS_TOP) return;
    clearTimeout(scroll.trailing);
    scroll.trailing = setTimeout(sendScroll, SCROLL_SETTLE_MS);
    if (Date.now() - scroll.lastSentAt >= SCROLL_THROTTLE_MS) sendScroll();
  }, { passive: true });

  // A page being left turns hidden on its way out: only a tab the participant switched away
  // from (still hidden a moment later, not unloading) counts, and then its return.
  const VISIBILITY_SETTLE_MS = 250;
  let leaving = false;
  let hiddenSent = false;
  addEventListener('pagehide', () => { leaving = true; }, true);
  addEventListener('pageshow', () => { leaving = false; }, true);
  document.addEventListener('visibilitychange', () => {
    if (!recording || !IS_TOP) return;
    if (document.visibilityState === 'visible') {
      if (hiddenSent) emit({ type: 'visibility', t: Date.now(), url: location.href, state: 'visible' });
      hiddenSent = false;
      return;
    }
    const at = Date.now();
    setTimeout(() => {
      if (leaving || !recording || document.visibilityState !== 'hidden') return;
      hiddenSent = true;
      emit({ type: 'visibility', t: at, url: location.href, state: 'hidden' });
    }, VISIBILITY_SETTLE_MS);
  });

  // ---- pages, snapshots, modals (top frame only) -------------------------------------------

  async function sendPage(kind, fromUrl) {
    await echoesReady;
    emit({ type: 'navigation', t: Date.now(), url: location.href, from_url: fromUrl || null, kind });
    resetScroll();
    const reply = await emit({
      type: 'page',
      t: Date.now(),
      url: location.href,
      title: document.title.slice(0, 500),
      structure: capture.pageStructure(document),
      viewport: { w: innerWidth, h: innerHeight },
    });
    if (reply && reply.recorded) await sendSnapshot(reply.seq);
  }

  async function sendSnapshot(pageSeq) {
    const { html, nodes, truncated } = snapshot.serialize(document, { echoes });
    const { data, size_bytes: sizeBytes } = await snapshot.gzipBase64(html);
    await emit({
      type: 'snapshot', t: Date.now(), url: location.href, for_seq: pageSeq, data,
      raw_chars: html.length, size_bytes: sizeBytes, nodes, truncated,
    });
  }

  function loadKind() {
    const entry = performance.getEntriesByType('navigation')[0];
    return entry && entry.type === 'reload' ? 'reload' : entry && entry.type === 'back_forward' ? 'back_forward' : 'load';
  }

  function whenLoaded(fn) {
    if (document.readyState === 'complete') fn();
    else addEventListener('load', fn, { once: true });
  }

  let spa = null; // {from, kind, timer}: an in-page navigation waiting for the page to render

  // Signals that say a URL changed but not how; a later, specific one for the same change wins.
  const VAGUE_KINDS = new Set(['history', 'navigate']);

  function onUrlMaybeChanged(kind) {
    if (location.href === lastUrl) {
      if (spa && kind && VAGUE_KINDS.has(spa.kind) && !VAGUE_KINDS.has(kind)) spa.kind = kind;
      return;
    }
    const from = lastUrl;
    lastUrl = location.href;
    if (!recording) return;
    const sameDocument = from.split('#')[0] === location.href.split('#')[0];
    if (spa) clearTimeout(spa.timer);
    const first = spa ? spa.from : from;
    const pending = { from: first, kind: sameDocument ? 'hash' : kind || 'history' };
    if (sameDocument && kind === 'pop') pending.kind = 'pop';
    pending.timer = setTimeout(() => {
      spa = null;
      if (recording) sendPage(pending.kind, pending.from).catch(reportError);
    }, SPA_SETTLE_MS);
    spa = pending;
  }

  function reportError(error) {
    console.error('codesight: capture failed', error);
  }

  function startModals() {
    if (detector || !IS_TOP || !document.documentElement) return;
    detector = modals.createDetector(window, {
      onOpen: ({ id, kind, element }) => {
        if (!recording) return;
        emit({
          type: 'modal', t: Date.now(), url: location.href, state: 'open', modal_id: id, kind,
          ...modals.summarize(element, echoes), selectors: generate(element) || undefined,
        });
      },
      onClose: ({ id, kind, element, openMs }) => {
        if (!recording) return;
        emit({
          type: 'modal', t: Date.now(), url: location.href, state: 'close', modal_id: id, kind,
          title: modals.summarize(element, echoes).title, open_ms: openMs,
        });
      },
    });
  }

  function stopModals() {
    if (detector) detector.stop();
    detector = null;
  }

  function apply() {
    const allowed = !scope || (Array.isArray(scope.hosts) && scope.hosts.includes(location.hostname));
    const on = sessionOn && allowed;
    const started = on && !recording;
    recording = on;
    if (!on) {
      pageSent = false;
      stopModals();
      hover = null;
      return;
    }
    if (started && IS_TOP) {
      whenLoaded(() => {
        if (!recording || pageSent) return;
        pageSent = true;
        lastUrl = location.href;
        sendPage(loadKind(), document.referrer).catch(reportError);
        startModals();
      });
    }
  }

  if (IS_TOP) {
    addEventListener('codesight:history', (e) => onUrlMaybeChanged(e.detail && e.detail.kind));
    addEventListener('popstate', () => onUrlMaybeChanged('pop'));
    addEventListener('hashchange', () => onUrlMaybeChanged('hash'));
    setInterval(() => onUrlMaybeChanged('history'), URL_POLL_MS);
  }

  // ---- what the service worker asks of the page ---------------------------------------------

  /** Every element matching `selector` in `root` and the open shadow roots inside it. */
  function deepQueryAll(root, selector, out = []) {
    out.push(...root.querySelectorAll(selector));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot && el.shadowRoot.mode === 'open') deepQueryAll(el.shadowRoot, selector, out);
    return out;
  }

  function fieldNeedsMask(el) {
    const category = privacy.fieldCategory(el);
    if (category === 'hidden') return false;
    if (privacy.isSensitiveCategory(category) || privacy.neverCaptured(category) || category === 'text' && el.localName === 'textarea') return true;
    const value = typeof el.value === 'string' ? el.value : '';
    return !!value && privacy.sensitiveSpans(value, echoes).length > 0;
  }

  /** Boxes (viewport CSS px) of sensitive fields and of text showing personal data, frames included. */
  function sensitiveBoxes(win, dx, dy, view, out) {
    const doc = win.document;
    const add = (r) => {
      const x = Math.max(0, r.left + dx);
      const y = Math.max(0, r.top + dy);
      const right = Math.min(view.w, r.right + dx);
      const bottom = Math.min(view.h, r.bottom + dy);
      if (right > x && bottom > y) out.push({ x: Math.floor(x), y: Math.floor(y), w: Math.ceil(right - x), h: Math.ceil(bottom - y) });
    };
    for (const el of deepQueryAll(doc, 'input, select, textarea, [contenteditable=""], [contenteditable=true]')) {
      if (el.isContentEditable ? (el.textContent || '').trim() : fieldNeedsMask(el)) add(el.getBoundingClientRect());
    }
    const roots = [doc, ...deepQueryAll(doc, '*').filter((el) => el.shadowRoot && el.shadowRoot.mode === 'open').map((el) => el.shadowRoot)];
    let scanned = 0;
    const range = doc.createRange();
    for (const root of roots) {
      const walker = doc.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node && scanned < MAX_MASK_TEXT_NODES; node = walker.nextNode(), scanned++) {
        const parent = node.parentElement;
        if (!parent || ['script', 'style', 'noscript', 'textarea', 'template'].includes(parent.localName)) continue;
        for (const [start, end] of privacy.sensitiveSpans(node.data, echoes)) {
          range.setStart(node, start);
          range.setEnd(node, end);
          for (const r of range.getClientRects()) add(r);
        }
      }
    }
    for (const frame of deepQueryAll(doc, 'iframe, frame')) {
      const r = frame.getBoundingClientRect();
      let inner = null;
      try {
        inner = frame.contentWindow && frame.contentWindow.document ? frame.contentWindow : null;
      } catch {
        inner = null; // cross-origin
      }
      // A cross-origin frame (a payment provider's card field) cannot be looked into: all of it is painted over.
      if (inner && inner.document.documentElement) sensitiveBoxes(inner, dx + r.left + frame.clientLeft, dy + r.top + frame.clientTop, view, out);
      else add(r);
    }
    return out;
  }

  async function masksNow() {
    await echoesReady;
    if (highlightHost) {
      highlightHost.remove();
      highlightHost = null;
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    }
    const view = { w: innerWidth, h: innerHeight };
    return { boxes: sensitiveBoxes(window, 0, 0, view, []), viewport: view, url: location.href };
  }

  chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
    if (sender.id !== chrome.runtime.id || !message) return false;
    if (message.cmd === 'masks' && IS_TOP) {
      masksNow().then(sendResponse, (error) => {
        reportError(error);
        sendResponse(null);
      });
      return true;
    }
    if (message.cmd === 'echoes-add' && Array.isArray(message.hashes)) for (const h of message.hashes) echoes.hashes.add(h);
    return false;
  });

  chrome.storage.onChanged.addListener((changes, area) => {
    if (area !== 'local') return;
    if (RECORDING_KEY in changes) sessionOn = changes[RECORDING_KEY].newValue === true;
    if (SCOPE_KEY in changes) scope = changes[SCOPE_KEY].newValue || null;
    if (RECORDING_KEY in changes || SCOPE_KEY in changes) apply();
  });
  chrome.storage.local.get([RECORDING_KEY, SCOPE_KEY]).then(
    (items) => {
      sessionOn = items[RECORDING_KEY] === true;
      scope = items[SCOPE_KEY] || null;
      apply();
    },
    (error) => console.error('codesight: could not read the recording state', error),
  );
})();
