/*
 * What a content script reports about a page and its form fields, as plain data for the
 * wire (lab/capture/wire.py: PageStructure, FieldSummary, InputEvent.value). A classic
 * script with no chrome.* calls, so jsdom tests load it the way they load generator.js.
 * Defines globalThis.codesightCapture = {pageStructure, fieldSummary, maskedValue, isSensitiveField}.
 *
 * Privacy: typed values never leave the browser. Every typed value is replaced by MASK;
 * password, hidden and file fields send nothing at all; only choices (select options,
 * checkbox / radio state) are sent, and a select that looks sensitive is masked too.
 */
(function () {
  'use strict';

  const MASK = '•••';
  const NEVER_SENT_TYPES = new Set(['password', 'hidden', 'file']);
  const SENSITIVE_TYPES = new Set(['email', 'tel', 'password']);
  // Autocomplete tokens for personal data (https://html.spec.whatwg.org/multipage/form-control-infrastructure.html#autofill).
  const SENSITIVE_AUTOCOMPLETE = /\b(name|honorific-prefix|given-name|additional-name|family-name|honorific-suffix|nickname|username|new-password|current-password|one-time-code|organization|street-address|address-line[1-3]|address-level[1-4]|country|country-name|postal-code|cc-[a-z-]+|transaction-amount|bday(-day|-month|-year)?|sex|tel(-[a-z-]+)?|email|impp|photo)\b/i;
  // Field names, ids and patterns that give personal data away when autocomplete is missing.
  const SENSITIVE_NAME = /e-?mail|phone|mobile|\btel|name|addr|street|city|zip|postal|post-?code|card|cc-?(num|exp|csc)|cvv|cvc|expir|iban|account|ssn|social|birth|dob|passw|\bpin\b|secret|token/i;
  const MAX_TEXT_CHARS = 200;
  const MAX_HEADINGS = 40;
  const MAX_OUTLINE_CHARS = 4000;
  const LANDMARKS = [
    ['header', 'banner'], ['nav', 'navigation'], ['main', 'main'], ['aside', 'complementary'],
    ['footer', 'contentinfo'], ['[role=search], search', 'search'], ['form[aria-label], form[aria-labelledby]', 'form'],
    ['section[aria-label], section[aria-labelledby]', 'region'], ['dialog[open], [role=dialog], [role=alertdialog]', 'dialog'],
  ];

  function collapse(s) {
    return String(s == null ? '' : s).replace(/\s+/g, ' ').trim();
  }

  function typeOf(el) {
    return el.localName === 'input' ? (el.getAttribute('type') || 'text').toLowerCase() : null;
  }

  /** Whether a field probably holds personal data: by type, autocomplete token, or name/id/pattern. */
  function isSensitiveField(el) {
    if (SENSITIVE_TYPES.has(typeOf(el))) return true;
    if (SENSITIVE_AUTOCOMPLETE.test(el.getAttribute('autocomplete') || '')) return true;
    if (['tel', 'email'].includes(el.getAttribute('inputmode'))) return true;
    return ['name', 'id', 'pattern'].some((attr) => SENSITIVE_NAME.test(el.getAttribute(attr) || ''));
  }

  /** The value an input event may carry: a choice, a mask, or nothing. */
  function maskedValue(el) {
    const type = typeOf(el);
    if (NEVER_SENT_TYPES.has(type)) return '';
    if (type === 'checkbox' || type === 'radio') return el.checked ? 'checked' : 'unchecked';
    if (el.localName === 'select') {
      const chosen = Array.from(el.selectedOptions || []).map((o) => collapse(o.label || o.textContent)).join(', ');
      if (!chosen) return '';
      return isSensitiveField(el) ? MASK : chosen.slice(0, MAX_TEXT_CHARS);
    }
    return el.value ? MASK : '';
  }

  /** FieldSummary: what the field is, never what is in it. */
  function fieldSummary(el, label) {
    return {
      tag: el.localName,
      type: typeOf(el) || (el.localName === 'select' ? (el.multiple ? 'select-multiple' : 'select-one') : null),
      name: el.getAttribute('name') || null,
      autocomplete: el.getAttribute('autocomplete') || null,
      label: label ? collapse(label).slice(0, MAX_TEXT_CHARS) : null,
    };
  }

  function isRendered(el) {
    if (typeof el.checkVisibility === 'function') return el.checkVisibility();
    for (let e = el; e; e = e.parentElement) if (e.hidden) return false;
    return true;
  }

  function landmarkName(el) {
    const labelledBy = collapse(el.getAttribute('aria-labelledby')).split(' ').filter(Boolean);
    const byId = labelledBy.map((id) => el.ownerDocument.getElementById(id)).filter(Boolean);
    return collapse(byId.map((e) => e.textContent).join(' ')) || collapse(el.getAttribute('aria-label'));
  }

  /** PageStructure: headings, landmarks, counts and a heading outline of the document. */
  function pageStructure(doc) {
    const headingEls = Array.from(doc.querySelectorAll('h1, h2, h3, h4, h5, h6, [role=heading]')).filter(isRendered);
    const level = (h) => Number(h.getAttribute('aria-level')) || Number(h.localName.slice(1)) || 2;
    const headings = headingEls.slice(0, MAX_HEADINGS).map((h) => collapse(h.textContent).slice(0, MAX_TEXT_CHARS)).filter(Boolean);
    const landmarks = [];
    for (const [selector, role] of LANDMARKS) {
      for (const el of doc.querySelectorAll(selector)) {
        if (!isRendered(el)) continue;
        const name = landmarkName(el);
        const entry = name ? `${role}: ${name.slice(0, 80)}` : role;
        if (!landmarks.includes(entry)) landmarks.push(entry);
      }
    }
    const count = (selector) => Array.from(doc.querySelectorAll(selector)).filter(isRendered).length;
    let outline = '';
    for (const h of headingEls) {
      const text = collapse(h.textContent).slice(0, 120);
      if (!text) continue;
      const line = `${'  '.repeat(Math.max(0, level(h) - 1))}h${level(h)} ${text}\n`;
      if (outline.length + line.length > MAX_OUTLINE_CHARS) break;
      outline += line;
    }
    return {
      headings,
      landmarks,
      counts: {
        links: count('a[href], [role=link]'),
        buttons: count('button, input[type=button], input[type=submit], input[type=reset], input[type=image], [role=button]'),
        inputs: count('input:not([type=hidden]):not([type=button]):not([type=submit]):not([type=reset]):not([type=image]), select, textarea'),
        forms: count('form'),
      },
      outline: outline.trimEnd(),
    };
  }

  globalThis.codesightCapture = { pageStructure, fieldSummary, maskedValue, isSensitiveField, MASK };
})();
