/*
 * Privacy in the browser: what a form field is (and so how its value is masked), which
 * strings in captured text are personal data, and where they are on screen.
 *
 * A classic script with no chrome.* calls: content scripts load it before page_capture.js,
 * the service worker imports it, node tests evaluate it in jsdom. Defines
 * globalThis.codesightPrivacy.
 *
 * Three lines of defence, all here:
 *  1. Fields by category (type, autocomplete token, name / id / label / placeholder, and the
 *     typed value's own pattern): password, hidden, file and payment fields send nothing;
 *     other typed values are replaced by a mask naming the category ("[email]").
 *  2. Patterns in any captured text: emails, phone numbers and card numbers (Luhn-checked).
 *  3. Echoes: what the participant typed into a sensitive field in this tab is remembered
 *     (salted hashes of its tokens, kept in memory only) and masked wherever the page shows
 *     it back: "Thank you, Ada!" on a confirmation page.
 */
(function () {
  'use strict';

  // Replaces an echoed or pattern-matched string inside captured text.
  const MASK = '•••';
  // What an input event carries instead of a typed value, by field category.
  const VALUE_MASKS = {
    email: '[email]', phone: '[phone]', name: '[name]', address: '[address]', personal: '[personal]', text: '[text]',
  };
  // Categories whose values are never captured, not even masked.
  const NEVER_CAPTURED = new Set(['password', 'hidden', 'file', 'payment']);
  // Categories whose boxes are painted over in screenshots and whose values are remembered as echoes.
  const SENSITIVE = new Set(['password', 'payment', 'email', 'phone', 'name', 'address', 'personal']);
  // A search query is sent as typed (it is what a shopper agent must learn to type) when short
  // and free of personal patterns; anything longer is masked like other text.
  const MAX_CLEAR_QUERY_CHARS = 100;
  const MAX_CLEAR_NUMBER_DIGITS = 4;

  // Autocomplete tokens (https://html.spec.whatwg.org/multipage/form-control-infrastructure.html#autofill-field).
  const AUTOCOMPLETE_CATEGORY = [
    [/\b(cc-[a-z-]+|transaction-amount|transaction-currency)\b/, 'payment'],
    [/\b(current-password|new-password|one-time-code)\b/, 'password'],
    [/\bemail\b/, 'email'],
    [/\btel(-[a-z-]+)?\b/, 'phone'],
    [/\b(name|honorific-prefix|given-name|additional-name|family-name|honorific-suffix|nickname|username)\b/, 'name'],
    [/\b(street-address|address-line[1-3]|address-level[1-4]|country|country-name|postal-code)\b/, 'address'],
    [/\b(organization(-title)?|bday(-day|-month|-year)?|sex|impp|photo|url)\b/, 'personal'],
  ];
  // Names, ids, labels and placeholders that give the category away when autocomplete is missing.
  const HINT_CATEGORY = [
    [/passw|passcode|\bpin\b|secret|\bssn\b|social.?sec/i, 'password'],
    [/card|\bcc.?(num|no|exp|csc|cvv)|cvv|cvc|\bcsc\b|security.?code|expir|\biban\b|account.?(num|no)|routing|sort.?code|billing.?code/i, 'payment'],
    [/e-?mail/i, 'email'],
    [/phone|mobile|\btel\b|\btelephone|\bcell\b/i, 'phone'],
    [/(full|first|last|sur|given|family|middle|your|user|nick|display|contact).?name|^name$|^f?l?name$|\blogin\b/i, 'name'],
    [/addr|street|\bcity\b|\btown\b|\bzip|postal|post.?code|\bstate\b|province|county|country|house.?(num|no)/i, 'address'],
    [/birth|\bdob\b|\bage\b|gender|passport|licen[cs]e|tax.?id|\bvat\b|national.?id|company/i, 'personal'],
  ];
  const SEARCH_HINT = /search|query|^q$|keyword/i;

  // ---- patterns ------------------------------------------------------------------------

  const EMAIL = /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}/gu;
  // International (+44 20 7946 0958), North American ((555) 123-4567, 555-123-4567) and
  // European national numbers starting with 0 (020 7946 0958, 0612345678).
  const PHONE = /(?<![\p{L}\p{N}])(?:\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4}|0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4})(?![\p{L}\p{N}])/gu;
  // Card numbers as people and pages write them: 13-19 digits in one run, in groups of four
  // (4242 4242 4242 4242), or Amex's 4-6-5; never a digit of a decimal or of a longer token.
  const CARD = /(?<![\p{L}\p{N}_.,-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?![\p{L}\p{N}_-]|[.,]\d)/gu;
  const MIN_PHONE_DIGITS = 8;
  const MAX_PHONE_DIGITS = 15;

  function luhnValid(digits) {
    let sum = 0;
    for (let i = 0; i < digits.length; i++) {
      let d = digits.charCodeAt(digits.length - 1 - i) - 48;
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  /** [start, end, kind] of every email, phone number and Luhn-valid card number in `text`. */
  function patternMatches(text) {
    const found = [];
    const s = String(text);
    for (const m of s.matchAll(EMAIL)) found.push([m.index, m.index + m[0].length, 'email']);
    for (const m of s.matchAll(CARD)) {
      const digits = m[0].replace(/\D/g, '');
      if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) found.push([m.index, m.index + m[0].length, 'payment']);
    }
    for (const m of s.matchAll(PHONE)) {
      const n = m[0].replace(/\D/g, '').length;
      if (n >= MIN_PHONE_DIGITS && n <= MAX_PHONE_DIGITS) found.push([m.index, m.index + m[0].length, 'phone']);
    }
    return found;
  }

  /** [start, end) spans of emails, phone numbers and card numbers in `text`. */
  function patternSpans(text) {
    return patternMatches(text).map(([start, end]) => [start, end]);
  }

  /** The category a typed value's own shape gives away (email, payment, phone), if any. */
  function valueCategory(value) {
    const kinds = new Set(patternMatches(value || '').map((m) => m[2]));
    return ['payment', 'email', 'phone'].find((k) => kinds.has(k)) || null;
  }

  // ---- fields --------------------------------------------------------------------------

  function collapse(s) {
    return String(s == null ? '' : s).replace(/\s+/g, ' ').trim();
  }

  function inputType(el) {
    return el.localName === 'input' ? (el.getAttribute('type') || 'text').toLowerCase() : null;
  }

  /** The field's visible label: <label>, aria-labelledby, aria-label (never its value). */
  function fieldLabel(el) {
    const parts = [];
    const doc = el.ownerDocument;
    const root = el.getRootNode ? el.getRootNode() : doc;
    for (const id of collapse(el.getAttribute('aria-labelledby')).split(' ').filter(Boolean)) {
      const ref = (root.getElementById ? root.getElementById(id) : null) || doc.getElementById(id);
      if (ref) parts.push(ref.textContent);
    }
    if (el.labels) for (const label of el.labels) parts.push(labelText(label, el));
    parts.push(el.getAttribute('aria-label'));
    return collapse(parts.filter(Boolean).join(' '));
  }

  /** A <label>'s own text, without the text of the control it wraps (a select's options). */
  function labelText(label, control) {
    if (!label.contains(control)) return label.textContent;
    let out = '';
    const walk = (node) => {
      for (const child of node.childNodes) {
        if (child === control) continue;
        if (child.nodeType === 3) out += child.data;
        else if (child.nodeType === 1 && !['select', 'textarea', 'option'].includes(child.localName)) walk(child);
      }
    };
    walk(label);
    return out;
  }

  /**
   * What kind of data a field holds: password, hidden, file, payment (never captured);
   * email, phone, name, address, personal (masked, painted over, remembered as echoes);
   * search, number, choice, text (masked unless a short clean query / number / choice).
   */
  function fieldCategory(el) {
    const type = inputType(el);
    if (type === 'password') return 'password';
    if (type === 'hidden') return 'hidden';
    if (type === 'file') return 'file';
    const autocomplete = (el.getAttribute('autocomplete') || '').toLowerCase();
    for (const [pattern, category] of AUTOCOMPLETE_CATEGORY) if (pattern.test(autocomplete)) return category;
    if (type === 'email') return 'email';
    if (type === 'tel') return 'phone';
    const inputmode = (el.getAttribute('inputmode') || '').toLowerCase();
    if (inputmode === 'email') return 'email';
    if (inputmode === 'tel') return 'phone';
    const hints = [el.getAttribute('name'), el.getAttribute('id'), fieldLabel(el), el.getAttribute('placeholder'),
      el.getAttribute('title'), el.getAttribute('pattern')].map(collapse).filter(Boolean);
    for (const [pattern, category] of HINT_CATEGORY) if (hints.some((h) => pattern.test(h))) return category;
    if (type === 'checkbox' || type === 'radio' || el.localName === 'select') return 'choice';
    if (type === 'search' || el.getAttribute('role') === 'searchbox' || hints.some((h) => SEARCH_HINT.test(h))) return 'search';
    if (type === 'number' || type === 'range') return 'number';
    const value = 'value' in el ? el.value : '';
    return valueCategory(value) || 'text';
  }

  function isSensitiveCategory(category) {
    return SENSITIVE.has(category);
  }

  /** The value an input event may carry for this field: a choice, a clean query, a mask, or ''. */
  function maskedFieldValue(el, category = fieldCategory(el)) {
    if (NEVER_CAPTURED.has(category)) return '';
    const type = inputType(el);
    if (type === 'checkbox' || type === 'radio') return el.checked ? 'checked' : 'unchecked';
    if (el.localName === 'select') {
      const chosen = Array.from(el.selectedOptions || []).map((o) => collapse(o.label || o.textContent)).join(', ');
      if (!chosen) return '';
      return category === 'choice' ? chosen.slice(0, 200) : VALUE_MASKS[category] || VALUE_MASKS.text;
    }
    const value = String(el.value || '');
    if (!value) return '';
    const shape = valueCategory(value);
    if (shape && NEVER_CAPTURED.has(shape)) return '';
    if (SENSITIVE.has(category)) return VALUE_MASKS[category];
    if (shape) return VALUE_MASKS[shape];
    if (category === 'search' && value.length <= MAX_CLEAR_QUERY_CHARS && !/\d{5,}/.test(value)) return collapse(value);
    if (category === 'number' && /^\s*-?\d+([.,]\d+)?\s*$/.test(value) && value.replace(/\D/g, '').length <= MAX_CLEAR_NUMBER_DIGITS) {
      return value.trim();
    }
    return VALUE_MASKS[category] || VALUE_MASKS.text;
  }

  const NO_TEXT_TAGS = new Set(['script', 'style', 'noscript', 'template', 'codesight-highlight']);

  /** An element's text with a space at every element boundary, so words of separate elements stay apart. */
  function spacedText(el) {
    const parts = [];
    const walk = (node) => {
      for (let child = node.firstChild; child; child = child.nextSibling) {
        if (child.nodeType === 3) parts.push(child.data);
        else if (child.nodeType === 1 && !NO_TEXT_TAGS.has(child.localName)) walk(child);
      }
    };
    walk(el);
    return collapse(parts.join(' '));
  }

  // ---- echoes: what was typed, remembered as salted hashes ------------------------------

  /** cyrb53: a fast 53-bit string hash (public domain, bryc); salted so a stored set is not a lookup table. */
  function hash(str, seed = 0) {
    let h1 = 0xdeadbeef ^ seed;
    let h2 = 0x41c6ce57 ^ seed;
    for (let i = 0; i < str.length; i++) {
      const ch = str.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
  }

  function normalize(s) {
    return String(s).normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
  }

  // Tokens shorter than this are not remembered: "Al" or "12" would mask half of any page.
  const MIN_WORD_LETTERS = 3;
  const MIN_WORD_DIGITS = 4;
  const EDGE_PUNCTUATION = /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu;

  function memorable(word) {
    const letters = (word.match(/\p{L}/gu) || []).length;
    const digits = (word.match(/\p{N}/gu) || []).length;
    return letters >= MIN_WORD_LETTERS || digits >= MIN_WORD_DIGITS || (letters + digits >= 3 && letters > 0 && digits > 0);
  }

  /** The normalized strings of a typed value worth recognizing when the page shows them back. */
  function echoTokens(value) {
    const full = normalize(value);
    if (!full) return [];
    const out = new Set();
    if (full.length >= 3) out.add(full);
    const compact = full.replace(/[\s.-]/g, '');
    if (compact.length >= 3) out.add(compact);
    const digits = full.replace(/\D/g, '');
    if (digits.length >= 6) out.add(digits);
    for (const raw of full.split(/[\s,;:()/]+/)) {
      const word = raw.replace(EDGE_PUNCTUATION, '');
      if (!word) continue;
      if (memorable(word)) out.add(word);
      // An email's local part alone ("ada.lovelace") is shown back too; its pieces are too common.
      const at = word.indexOf('@');
      if (at > 0 && memorable(word.slice(0, at))) out.add(word.slice(0, at));
    }
    return [...out];
  }

  /** Salted hashes of `value`'s echo tokens, for the tab's echo set. */
  function echoHashes(value, salt) {
    return echoTokens(value).map((t) => hash(t, salt));
  }

  const HUMP = /(?<=\p{Ll})(?=\p{Lu})|(?<=\p{L})(?=\p{N})|(?<=\p{N})(?=\p{L})/u;
  // A span of text that may be one token: letters, digits and what joins them in emails and names.
  const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}@._+'’-]*/gu;

  /** [start, end) spans of `text` whose tokens hash into `echoes` ({salt, hashes: Set}). */
  function echoSpans(text, echoes) {
    if (!echoes || !echoes.hashes || echoes.hashes.size === 0) return [];
    const spans = [];
    const s = String(text);
    const has = (t) => echoes.hashes.has(hash(t, echoes.salt));
    for (const m of s.matchAll(TOKEN)) {
      const token = m[0].replace(EDGE_PUNCTUATION, '');
      if (!token) continue;
      const start = m.index;
      const norm = normalize(token);
      if (has(norm) || has(norm.replace(/[.-]/g, '')) || (/\d/.test(norm) && norm.replace(/\D/g, '').length >= 6 && has(norm.replace(/\D/g, '')))) {
        spans.push([start, start + token.length]);
        continue;
      }
      let offset = 0;
      for (const part of token.split(/([@._+'’-]+)/)) {
        if (part && !/^[@._+'’-]+$/.test(part)) {
          // Text run together from separate elements ("Thank youAda") splits at case and digit humps.
          let inner = 0;
          for (const hump of part.split(HUMP)) {
            if (hump && has(normalize(hump))) spans.push([start + offset + inner, start + offset + inner + hump.length]);
            inner += hump.length;
          }
        }
        offset += part.length;
      }
    }
    // Runs of digit groups ("4242 4242 4242 4242") are checked as one number too.
    if (/\d/.test(s)) {
      for (const m of s.matchAll(/\d[\d -]{4,}\d/g)) {
        const digits = m[0].replace(/\D/g, '');
        if (digits.length >= 6 && has(digits)) spans.push([m.index, m.index + m[0].length]);
      }
    }
    return spans;
  }

  function mergeSpans(spans) {
    const sorted = spans.slice().sort((a, b) => a[0] - b[0]);
    const out = [];
    for (const span of sorted) {
      const last = out[out.length - 1];
      if (last && span[0] <= last[1]) last[1] = Math.max(last[1], span[1]);
      else out.push([span[0], span[1]]);
    }
    return out;
  }

  /** Every span of personal data in `text`: patterns, plus echoes of what was typed. */
  function sensitiveSpans(text, echoes) {
    return mergeSpans([...patternSpans(text), ...echoSpans(text, echoes)]);
  }

  /** `text` with personal data replaced by MASK. */
  function maskText(text, echoes) {
    if (text == null) return text;
    const s = String(text);
    const spans = sensitiveSpans(s, echoes);
    if (!spans.length) return s;
    let out = '';
    let at = 0;
    for (const [start, end] of spans) {
      out += s.slice(at, start) + MASK;
      at = end;
    }
    return out + s.slice(at);
  }

  // Query parameters whose values are personal whatever they look like.
  const SENSITIVE_PARAM = /e-?mail|phone|mobile|\btel|name|addr|street|city|zip|postal|card|cvv|token|session|auth|password|passwd|secret|ssn|birth|dob/i;

  /** A URL with personal data masked in its path, query and fragment (scheme and host kept). */
  function maskUrl(url, echoes) {
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      return maskText(url, echoes);
    }
    if (!/^(https?|file):$/.test(parsed.protocol)) return maskText(url, echoes);
    const path = parsed.pathname.split('/').map((seg) => {
      const decoded = safeDecode(seg);
      const masked = maskText(decoded, echoes);
      return masked === decoded ? seg : encodeURIComponent(masked);
    }).join('/');
    const params = [];
    let changed = false;
    for (const [key, value] of parsed.searchParams) {
      const masked = SENSITIVE_PARAM.test(key) && value ? MASK : maskText(value, echoes);
      if (masked !== value) changed = true;
      params.push([key, masked]);
    }
    const fragment = safeDecode(parsed.hash);
    const maskedFragment = maskText(fragment, echoes);
    const hash = maskedFragment === fragment ? parsed.hash : encodeURI(maskedFragment);
    const query = changed ? `?${new URLSearchParams(params).toString()}` : parsed.search;
    return `${parsed.protocol}//${parsed.host}${path}${query}${hash}`;
  }

  function safeDecode(s) {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  }

  const URL_KEY = /(^|_)(url|href|src|action)$/i;

  // Data URLs (screenshots, snapshots, audio): binary, never text to mask.
  const BINARY_KEYS = new Set(['image', 'data']);

  /** A copy of plain data with every string masked (keys kept; `url`-like keys masked as URLs). */
  function maskDeep(value, echoes, key = '') {
    if (BINARY_KEYS.has(key)) return value;
    if (typeof value === 'string') return URL_KEY.test(key) ? maskUrl(value, echoes) : maskText(value, echoes);
    if (Array.isArray(value)) return value.map((v) => maskDeep(v, echoes, key));
    if (value && typeof value === 'object') {
      const out = {};
      for (const [k, v] of Object.entries(value)) out[k] = maskDeep(v, echoes, k);
      return out;
    }
    return value;
  }

  /**
   * A selector record fit to leave the browser: candidates that spell out personal data are
   * dropped (a masked selector would match nothing), the fingerprint's strings are masked.
   * When every candidate would go, they are kept masked so the event still names its element.
   */
  function maskSelectorRecord(record, echoes) {
    const clean = record.candidates.filter((c) => maskText(c.selector, echoes) === c.selector);
    const candidates = clean.length ? clean : record.candidates.map((c) => ({ ...c, selector: maskText(c.selector, echoes) }));
    return { ...record, candidates, fingerprint: maskDeep(record.fingerprint || {}, echoes) };
  }

  globalThis.codesightPrivacy = {
    MASK,
    VALUE_MASKS,
    fieldCategory,
    fieldLabel,
    spacedText,
    isSensitiveCategory,
    neverCaptured: (category) => NEVER_CAPTURED.has(category),
    maskedFieldValue,
    valueCategory,
    luhnValid,
    patternMatches,
    patternSpans,
    hash,
    echoTokens,
    echoHashes,
    echoSpans,
    sensitiveSpans,
    maskText,
    maskUrl,
    maskDeep,
    maskSelectorRecord,
  };
})();
