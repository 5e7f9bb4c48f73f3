/*
 * What a content script reports about a page and its form fields, as plain data for the
 * wire (lab/capture/wire.py: PageStructure, FieldSummary, InputEvent.value). A classic
 * script with no chrome.* calls, loaded after privacy.js, so jsdom tests load it the way
 * they load generator.js. Defines globalThis.codesightCapture =
 * {pageStructure, fieldSummary, maskedValue, isSensitiveField, MASK}.
 *
 * Privacy (privacy.js): typed values never leave the browser; an input event carries a
 * choice, a short clean search query, or a mask naming the field's category ("[email]");
 * password, hidden, file and payment fields carry nothing. The structure is masked for
 * echoes and personal patterns by the caller (content.js) before it is sent.
 */
(function () {
  'use strict';

  const privacy = globalThis.codesightPrivacy;
  const MASK = privacy.MASK;
  const MAX_TEXT_CHARS = 200;
  const MAX_HEADINGS = 40;
  const MAX_FORMS = 10;
  const MAX_FORM_FIELDS = 30;
  const MAX_PRODUCTS = 12;
  const MAX_OUTLINE_CHARS = 4000;
  // A product card is the nearest ancestor of a price that also holds a heading or link, climbing this far at most.
  const MAX_CARD_CLIMB = 6;
  const MAX_CARD_TEXT_CHARS = 800;
  // Elements walked for the outline; a huge page gets a truncated outline, not a frozen tab.
  const MAX_OUTLINE_ELEMENTS = 20_000;
  const LANDMARKS = [
    ['header', 'banner'], ['nav', 'navigation'], ['main', 'main'], ['aside', 'complementary'],
    ['footer', 'contentinfo'], ['[role=search], search', 'search'], ['form[aria-label], form[aria-labelledby]', 'form'],
    ['section[aria-label], section[aria-labelledby]', 'region'], ['dialog[open], [role=dialog], [role=alertdialog]', 'dialog'],
  ];
  const LANDMARK_ROLES = { banner: 1, navigation: 1, main: 1, complementary: 1, contentinfo: 1, search: 1, region: 1, dialog: 1, alertdialog: 1 };
  const IMPLICIT_LANDMARK = { header: 'banner', nav: 'navigation', main: 'main', aside: 'complementary', footer: 'contentinfo', search: 'search' };
  const PRICE = /(?:[$€£¥₹]\s?\d[\d.,]*|\d[\d.,]*\s?(?:[$€£¥₹]|kr|EUR|USD|GBP)\b)/;
  const INTERACTIVE = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [role=link], [role=checkbox], [role=tab], [role=menuitem], [contenteditable=""], [contenteditable=true]';
  // The recorder's own click highlight (content.js) is not part of the page.
  const OWN_UI = 'codesight-highlight';

  function collapse(s) {
    return String(s == null ? '' : s).replace(/\s+/g, ' ').trim();
  }

  function typeOf(el) {
    return el.localName === 'input' ? (el.getAttribute('type') || 'text').toLowerCase() : null;
  }

  /** Whether a field probably holds personal data: by type, autocomplete token, name, label or value shape. */
  function isSensitiveField(el) {
    return privacy.isSensitiveCategory(privacy.fieldCategory(el));
  }

  /** The value an input event may carry: a choice, a clean query, a mask, or nothing. */
  function maskedValue(el) {
    return privacy.maskedFieldValue(el);
  }

  /** FieldSummary: what the field is, never what is in it. */
  function fieldSummary(el, label) {
    const category = privacy.fieldCategory(el);
    return {
      tag: el.localName,
      type: typeOf(el) || (el.localName === 'select' ? (el.multiple ? 'select-multiple' : 'select-one') : null),
      name: el.getAttribute('name') || null,
      autocomplete: el.getAttribute('autocomplete') || null,
      label: label ? collapse(label).slice(0, MAX_TEXT_CHARS) : null,
      category,
      sensitive: privacy.isSensitiveCategory(category) || privacy.neverCaptured(category),
      required: el.required === true || el.getAttribute('aria-required') === 'true',
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
    return collapse(byId.map((e) => privacy.spacedText(e)).join(' ')) || collapse(el.getAttribute('aria-label'));
  }

  function pathOf(url) {
    try {
      return new URL(url).pathname;
    } catch {
      return null;
    }
  }

  /** The fields of a form (or of any container), described, never their values. */
  function describeFields(container) {
    const fields = [];
    for (const el of container.querySelectorAll('input, select, textarea')) {
      if (typeOf(el) === 'hidden' || ['submit', 'button', 'reset', 'image'].includes(typeOf(el))) continue;
      if (fields.length >= MAX_FORM_FIELDS) break;
      const label = privacy.fieldLabel(el) || el.getAttribute('placeholder') || el.getAttribute('title') || '';
      fields.push(fieldSummary(el, label));
    }
    return fields;
  }

  function submitText(form) {
    const button = form.querySelector('button[type=submit], button:not([type]), input[type=submit]');
    if (!button) return null;
    return collapse(button.localName === 'input' ? button.value : privacy.spacedText(button)).slice(0, 80) || null;
  }

  /** A form's metadata: name, where it goes, its fields (category, label), its submit button. */
  function formSummary(form) {
    return {
      id: form.id || null,
      name: form.getAttribute('name') || landmarkName(form) || null,
      action: form.hasAttribute('action') ? pathOf(form.action) : null,
      method: (form.getAttribute('method') || 'get').toLowerCase(),
      fields: describeFields(form),
      submit: submitText(form),
    };
  }

  /** Product-like regions: the smallest card around each price that also names a product. */
  function productRegions(doc) {
    const products = [];
    const seen = new Set();
    let prices = 0;
    const walker = doc.createTreeWalker(doc.body || doc.documentElement, 4 /* NodeFilter.SHOW_TEXT */);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || ['script', 'style', 'noscript', 'template', 'option'].includes(parent.localName)) continue;
      const match = PRICE.exec(node.data);
      if (!match) continue;
      prices += 1;
      let card = parent;
      let name = null;
      for (let i = 0; i < MAX_CARD_CLIMB && card && card !== doc.body; i++, card = card.parentElement) {
        if (collapse(card.textContent).length > MAX_CARD_TEXT_CHARS) break;
        const titled = card.querySelector('h1, h2, h3, h4, h5, h6, [itemprop=name], a[href]');
        if (titled && !titled.contains(parent)) {
          name = privacy.spacedText(titled).slice(0, 120);
          break;
        }
      }
      if (!name || !card || seen.has(card) || products.length >= MAX_PRODUCTS) continue;
      seen.add(card);
      products.push({ name, price: collapse(match[0]) });
    }
    return { prices, products };
  }

  function landmarkRole(el) {
    const role = el.getAttribute('role');
    if (role && LANDMARK_ROLES[role]) return role;
    if (el.localName === 'section' && (el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby'))) return 'region';
    if (el.localName === 'dialog') return el.open ? 'dialog' : null;
    return IMPLICIT_LANDMARK[el.localName] || null;
  }

  /**
   * A compact outline for training prompts: landmarks, headings, forms (fields by label and
   * category) and product cards, indented by landmark nesting, in document order.
   */
  function outlineOf(doc, products) {
    const lines = [];
    let chars = 0;
    let visited = 0;
    const productNames = new Map(products.map((p) => [p.name, p.price]));
    const emit = (depth, text) => {
      const line = `${'  '.repeat(depth)}${text}`;
      if (chars + line.length + 1 > MAX_OUTLINE_CHARS) return false;
      lines.push(line);
      chars += line.length + 1;
      return true;
    };
    const walk = (el, depth) => {
      for (let child = el.firstElementChild; child; child = child.nextElementSibling) {
        if (++visited > MAX_OUTLINE_ELEMENTS) return;
        if (['script', 'style', 'template', 'noscript', 'svg', OWN_UI].includes(child.localName)) continue;
        if (child.hidden || child.getAttribute('aria-hidden') === 'true') continue;
        const role = landmarkRole(child);
        const heading = /^h[1-6]$/.test(child.localName) || child.getAttribute('role') === 'heading';
        if (heading) {
          if (!isRendered(child)) continue;
          const level = Number(child.getAttribute('aria-level')) || Number(child.localName.slice(1)) || 2;
          const text = privacy.spacedText(child).slice(0, 120);
          const price = productNames.get(text);
          if (text) emit(depth, `h${level} ${text}${price ? ` — ${price}` : ''}`);
          continue;
        }
        if (child.localName === 'form') {
          if (!isRendered(child)) continue;
          const f = formSummary(child);
          const fields = f.fields.map((x) => `${x.label || x.name || x.tag}${x.category && x.category !== 'text' ? ` (${x.category})` : ''}`);
          emit(depth, `form${f.name ? ` "${f.name}"` : ''}: ${fields.join(' · ') || 'no fields'}${f.submit ? ` → ${f.submit}` : ''}`);
          walk(child, depth + 1);
          continue;
        }
        if (role) {
          if (!isRendered(child)) continue;
          const name = landmarkName(child);
          emit(depth, `[${role}${name ? ` "${name.slice(0, 60)}"` : ''}]`);
          if (role === 'navigation') {
            const links = Array.from(child.querySelectorAll('a[href]')).map((a) => privacy.spacedText(a)).filter(Boolean).slice(0, 12);
            if (links.length) emit(depth + 1, `links: ${links.join(' · ').slice(0, 300)}`);
            continue;
          }
          walk(child, depth + 1);
          continue;
        }
        if (child.localName === 'a' && productNames.has(privacy.spacedText(child)) && isRendered(child)) {
          const text = privacy.spacedText(child);
          emit(depth, `product: ${text} — ${productNames.get(text)}`);
          continue;
        }
        walk(child, depth);
      }
    };
    if (doc.body) walk(doc.body, 0);
    return lines.join('\n');
  }

  /**
   * PageStructure: headings, landmarks, counts of interactive elements, forms and their
   * fields' metadata, product and price regions, and a compact outline of the document.
   */
  function pageStructure(doc) {
    const headingEls = Array.from(doc.querySelectorAll('h1, h2, h3, h4, h5, h6, [role=heading]')).filter(isRendered);
    const headings = headingEls.slice(0, MAX_HEADINGS).map((h) => privacy.spacedText(h).slice(0, MAX_TEXT_CHARS)).filter(Boolean);
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
    const commerce = productRegions(doc);
    return {
      headings,
      landmarks,
      counts: {
        links: count('a[href], [role=link]'),
        buttons: count('button, input[type=button], input[type=submit], input[type=reset], input[type=image], [role=button]'),
        inputs: count('input:not([type=hidden]):not([type=button]):not([type=submit]):not([type=reset]):not([type=image]), select, textarea'),
        forms: count('form'),
        interactive: count(INTERACTIVE),
        images: count('img, svg[role=img], picture'),
        iframes: doc.querySelectorAll('iframe').length,
        dialogs: count('dialog[open], [role=dialog], [role=alertdialog], [aria-modal=true]'),
        prices: commerce.prices,
      },
      forms: Array.from(doc.querySelectorAll('form')).filter(isRendered).slice(0, MAX_FORMS).map(formSummary),
      products: commerce.products,
      outline: outlineOf(doc, commerce.products),
    };
  }

  globalThis.codesightCapture = { pageStructure, fieldSummary, maskedValue, isSensitiveField, formSummary, MASK };
})();
