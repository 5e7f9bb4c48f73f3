/*
 * Modal detection: <dialog>, role=dialog / alertdialog, aria-modal, fixed high-z-index
 * overlays and cookie banners, watched with a MutationObserver. Reports each modal's
 * opening and closing with a summary of its content (title, text, buttons).
 *
 * A classic script with no chrome.* calls, loaded after privacy.js. Defines
 * globalThis.codesightModals = {modalKind, summarize, createDetector}. The pure parts take
 * the computed style, box and viewport as arguments so jsdom tests (no layout) drive them.
 */
(function () {
  'use strict';

  const privacy = globalThis.codesightPrivacy;
  // An overlay without dialog semantics counts when it is stacked this high ...
  const MIN_OVERLAY_Z_INDEX = 10;
  // ... and covers at least this share of the viewport (a sticky header does not).
  const MIN_OVERLAY_AREA_SHARE = 0.3;
  // A fixed bar of consent text counts from this share of the viewport's width.
  const MIN_BANNER_WIDTH_SHARE = 0.5;
  // Mutations settle this long before the page is scanned again (animations, batched inserts).
  const SCAN_DEBOUNCE_MS = 120;
  // Elements of one mutation batch inspected for fixed positioning, at most.
  const MAX_CHECKED_PER_SCAN = 400;
  const MAX_TEXT_CHARS = 200;
  const MAX_BUTTONS = 8;
  const COOKIE_TEXT = /\bcookies?\b|consent|gdpr|\bccpa\b|privacy (settings|preferences|choices)|we (value|respect) your privacy/i;
  const COOKIE_HINT = /cookie|consent|gdpr|\bcmp\b|onetrust|cookiebot|didomi|quantcast|usercentrics/i;
  const SEMANTIC = 'dialog, [role=dialog], [role=alertdialog], [aria-modal=true]';
  const LANDMARK_TAGS = new Set(['header', 'nav', 'footer', 'aside', 'main']);
  const OWN_UI = 'codesight-highlight';

  function collapse(s) {
    return String(s == null ? '' : s).replace(/\s+/g, ' ').trim();
  }

  function hints(el) {
    return `${el.id || ''} ${typeof el.className === 'string' ? el.className : ''} ${el.getAttribute('aria-label') || ''}`;
  }

  function looksLikeCookieBanner(el) {
    return COOKIE_HINT.test(hints(el)) || COOKIE_TEXT.test(privacy.spacedText(el).slice(0, 600));
  }

  /**
   * 'dialog' | 'aria' | 'cookie' | 'overlay' when `el`, as laid out now, is a modal; null
   * otherwise. `style` is its computed style, `rect` its box, `viewport` {w, h}.
   */
  function modalKind(el, style, rect, viewport) {
    if (!el || el.localName === OWN_UI) return null;
    if (!rect || rect.width <= 0 || rect.height <= 0) return null;
    if (style.display === 'none' || style.visibility === 'hidden' || Number(style.opacity) === 0) return null;
    const area = (Math.min(rect.width, viewport.w) * Math.min(rect.height, viewport.h)) / (viewport.w * viewport.h || 1);
    const fixed = style.position === 'fixed' || style.position === 'sticky';
    if (el.localName === 'dialog') {
      if (!el.open) return null;
      return looksLikeCookieBanner(el) ? 'cookie' : 'dialog';
    }
    const semantic = el.matches('[role=dialog], [role=alertdialog], [aria-modal=true]');
    if (semantic) return looksLikeCookieBanner(el) ? 'cookie' : 'aria';
    if (!fixed || LANDMARK_TAGS.has(el.localName) || el.matches('[role=banner], [role=navigation], [role=contentinfo]')) return null;
    if (looksLikeCookieBanner(el) && rect.width >= viewport.w * MIN_BANNER_WIDTH_SHARE) return 'cookie';
    const z = Number.parseInt(style.zIndex, 10);
    if (Number.isFinite(z) && z >= MIN_OVERLAY_Z_INDEX && area >= MIN_OVERLAY_AREA_SHARE) return 'overlay';
    return null;
  }

  function titleOf(el) {
    const doc = el.ownerDocument;
    for (const id of collapse(el.getAttribute('aria-labelledby')).split(' ').filter(Boolean)) {
      const ref = doc.getElementById(id);
      if (ref && privacy.spacedText(ref)) return privacy.spacedText(ref);
    }
    if (collapse(el.getAttribute('aria-label'))) return collapse(el.getAttribute('aria-label'));
    const heading = el.querySelector('h1, h2, h3, h4, h5, h6, [role=heading], legend, strong');
    return heading ? privacy.spacedText(heading) : '';
  }

  /** What a modal says: title, opening text, button and link labels; masked for personal data. */
  function summarize(el, echoes = null) {
    const buttons = [];
    for (const b of el.querySelectorAll('button, [role=button], a[href], input[type=submit], input[type=button]')) {
      const label = collapse(b.localName === 'input' ? b.value : privacy.spacedText(b) || b.getAttribute('aria-label'));
      if (label && !buttons.includes(label)) buttons.push(label.slice(0, 80));
      if (buttons.length >= MAX_BUTTONS) break;
    }
    return {
      title: privacy.maskText(titleOf(el).slice(0, MAX_TEXT_CHARS), echoes),
      text: privacy.maskText(privacy.spacedText(el).slice(0, MAX_TEXT_CHARS), echoes),
      buttons: buttons.map((b) => privacy.maskText(b, echoes)),
      fields: el.querySelectorAll('input:not([type=hidden]), select, textarea').length,
    };
  }

  /**
   * Watch `win`'s document; calls onOpen({id, kind, element}) when a modal appears and
   * onClose({id, kind, element, openMs}) when it is removed or hidden. Returns {scan, stop}.
 * `classify(el)` replaces the layout-based modalKind (tests without layout).
   */
  function createDetector(win, { onOpen, onClose, now = () => Date.now(), classify = null }) {
    const doc = win.document;
    const open = new Map(); // element -> {id, kind, at}
    const pending = new Set(); // elements touched by mutations since the last scan
    let nextId = 1;
    let timer = null;

    const viewport = () => ({ w: win.innerWidth, h: win.innerHeight });
    const kindOf = (el) => {
      if (classify) return classify(el);
      try {
        return modalKind(el, win.getComputedStyle(el), el.getBoundingClientRect(), viewport());
      } catch {
        return null; // an element from a document being torn down
      }
    };

    function candidates() {
      const found = new Set(doc.querySelectorAll(SEMANTIC));
      if (doc.body) for (const child of doc.body.children) found.add(child);
      let checked = 0;
      for (const el of pending) {
        if (!el.isConnected) continue;
        found.add(el);
        for (const inner of el.querySelectorAll('*')) {
          if (++checked > MAX_CHECKED_PER_SCAN) break;
          found.add(inner);
        }
      }
      pending.clear();
      for (const el of open.keys()) found.add(el);
      return found;
    }

    function scan() {
      timer = null;
      const modals = new Map();
      for (const el of candidates()) {
        if (!el.isConnected) continue;
        const kind = kindOf(el);
        if (kind) modals.set(el, kind);
      }
      // A backdrop holding a dialog is one modal: keep the innermost.
      for (const el of [...modals.keys()]) {
        if ([...modals.keys()].some((other) => other !== el && el.contains(other))) modals.delete(el);
      }
      for (const [el, state] of [...open]) {
        if (modals.has(el)) continue;
        open.delete(el);
        onClose({ id: state.id, kind: state.kind, element: el, openMs: now() - state.at });
      }
      for (const [el, kind] of modals) {
        if (open.has(el)) continue;
        const state = { id: nextId++, kind, at: now() };
        open.set(el, state);
        onOpen({ id: state.id, kind, element: el });
      }
    }

    function schedule() {
      if (timer === null) timer = win.setTimeout(scan, SCAN_DEBOUNCE_MS);
    }

    const observer = new win.MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'childList') for (const n of r.addedNodes) if (n.nodeType === 1) pending.add(n);
        if (r.type === 'attributes' && r.target.nodeType === 1) pending.add(r.target);
      }
      schedule();
    });
    observer.observe(doc.documentElement, {
      childList: true, subtree: true, attributes: true, attributeFilter: ['open', 'style', 'class', 'hidden', 'aria-modal', 'role'],
    });
    schedule();
    return {
      scan,
      /** Scan now if mutations are waiting: the participant acts (a click may remove the modal). */
      flush() {
        if (timer === null) return;
        win.clearTimeout(timer);
        scan();
      },
      openModals: () => [...open.entries()].map(([element, s]) => ({ id: s.id, kind: s.kind, element })),
      stop() {
        observer.disconnect();
        if (timer !== null) win.clearTimeout(timer);
        timer = null;
        open.clear();
      },
    };
  }

  globalThis.codesightModals = { modalKind, summarize, createDetector };
})();
