/*
 * CodeSight selector generator: the only one. The extension injects it into every
 * frame, and the replay engine and benchmarks inject the same file into pages, so a
 * selector is generated the same way everywhere.
 *
 * A classic script: no imports, no chrome.* calls. Evaluated in a page or frame it
 * defines globalThis.codesightSelectors = {generate, query, resolve}:
 *   generate(element) -> {candidates: [{kind, selector, score, unique}], fingerprint}
 *                        ranked best first (lower score is better, as in Playwright)
 *   query(candidate | selector, root?) -> the elements it matches now, open shadow roots included
 *   resolve(record, root?) -> the element replay picks, or null when it abstains
 *
 * Selector language (one selector = parts joined by " >> "; each part searches the
 * descendants, open shadow roots included, of what the previous part matched):
 *   css=<css selector>            querySelectorAll in the document and every open shadow root
 *   xpath=<expression>            evaluated in the document and, made relative, in every shadow root
 *   role=<role>                   elements with that ARIA role (explicit or implicit)
 *   role=<role>[name="<name>"]    ... whose accessible name matches
 *   text="<text>"                 innermost visible elements whose text matches, retargeted
 *                                 to their interactive ancestor (as a click would be)
 *   label="<text>"                form fields whose <label> / aria-labelledby text matches
 *   placeholder="<text>"  alt="<text>"  title="<text>"   that attribute matches
 *   testid="<value>"              data-testid, data-test-id, data-test, data-qa or data-cy equals value
 *   nth=<k>                       keeps the k-th (0-based) element matched so far
 *   has-text="<text>"             keeps the elements matched so far whose text contains <text>
 * Quoted values are JSON strings. A value matches "loosely": whitespace collapsed, case
 * ignored, and tokens holding digits (prices, counts) dropped on both sides. A trailing
 * s ("Blue mug 2"s) asks for strict equality of the whitespace-collapsed text instead.
 */
(function () {
  'use strict';

  // ---- Score table: lower is better, as in Playwright's injected selectorGenerator.ts.
  // A data-testid exists to be selected by; nothing is more stable.
  const TESTID_SCORE = 1;
  // data-test, data-test-id, data-qa, data-cy: the same intent, less common spellings.
  const OTHER_TESTID_SCORE = 2;
  // Role and accessible name: what a user perceives, survives restyling.
  const ROLE_NAME_SCORE = 100;
  // Placeholder of a field: visible but copywriters change it.
  const PLACEHOLDER_SCORE = 120;
  // The field's <label>.
  const LABEL_SCORE = 140;
  // An image's alt text.
  const ALT_SCORE = 160;
  // Visible text, numbers stripped.
  const TEXT_SCORE = 180;
  // A title attribute (tooltips drift more than labels).
  const TITLE_SCORE = 200;
  // A container known by its tag/classes and a text inside it (a product card by its title).
  const HAS_TEXT_ANCHOR_SCORE = 200;
  // An id that passed the stability check.
  const ID_SCORE = 300;
  // Stable attributes: name, type, href, aria-label, data-*.
  const ATTR_SCORE = 400;
  // A role alone, when it is unique on the page (role=search); never for buttons, links or
  // fields: "the only button" stops being true as soon as a banner or dialog shows up.
  const ROLE_ONLY_SCORE = 510;
  // A CSS path over stable classes; each step and each :nth-of-type makes it more brittle.
  const CSS_SCORE = 600;
  const CSS_STEP_SCORE = 10;
  const CSS_NTH_STEP_SCORE = 30;
  // An XPath anchored on a stable attribute or ancestor.
  const XPATH_SCORE = 800;
  // Strict text ("..."s, digits kept): prices and counts change, so it ranks after scoped forms.
  const STRICT_TEXT_PENALTY = 400;
  // Scoped by a unique ancestor: the anchor's own score is added too.
  const SCOPE_PENALTY = 20;
  // Picking the k-th of several matches: positional, breaks when lists reorder.
  const NTH_INDEX_PENALTY = 1000;
  // Absolute positional XPath: the fallback of last resort.
  const NTH_SCORE = 10000;

  /** Combine the table into one candidate score. */
  function combineScore(base, mods) {
    const m = mods || {};
    return base
      + (m.strict ? STRICT_TEXT_PENALTY : 0)
      + (m.anchorScore !== undefined ? m.anchorScore + SCOPE_PENALTY : 0)
      + (m.nthIndex ? NTH_INDEX_PENALTY : 0)
      + (m.cssSteps || 0) * CSS_STEP_SCORE
      + (m.cssNthSteps || 0) * CSS_NTH_STEP_SCORE;
  }

  // Kinds that may fall back to "the k-th match" when ambiguous, as Playwright codegen's .nth().
  const POSITIONAL_KINDS = new Set(['role', 'text']);
  // Kinds whose match replay trusts without comparing the fingerprint.
  const STRONG_KINDS = new Set(['testid', 'role', 'label', 'placeholder', 'alt', 'title', 'text', 'id', 'attr']);
  // A weak candidate's match must resemble the captured element at least this much.
  const WEAK_MATCH_MIN_SIMILARITY = 0.5;
  // Fingerprint relocation abstains below this similarity: a wrong element is worse than none.
  const RELOCATE_MIN_SIMILARITY = 0.65;
  // ... and when the runner-up is this close (two look-alike buttons).
  const RELOCATE_MIN_MARGIN = 0.05;
  // Text similarity below which an element with text is not "the same element".
  const TEXT_GATE = 0.6;
  // Weights of the fingerprint similarity (tag must match; position only when laid out).
  const FP_WEIGHTS = { text: 0.35, attrs: 0.2, ancestors: 0.2, siblings: 0.1, role: 0.05, position: 0.1 };
  const MAX_TEXT_SELECTOR_CHARS = 80;
  const MAX_ATTR_VALUE_CHARS = 200;
  // The wire's limit on one selector (lab/capture/wire.py SelectorCandidateWire.selector).
  const MAX_SELECTOR_CHARS = 4000;
  const ANCESTOR_LEVELS = 4;

  const TEST_ID_ATTRS = ['data-testid', 'data-test-id', 'data-test', 'data-qa', 'data-cy'];
  const INTERACTIVE_ROLES = new Set(['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem',
    'menuitemcheckbox', 'menuitemradio', 'option', 'treeitem', 'combobox', 'textbox', 'searchbox', 'listbox',
    'slider', 'spinbutton']);
  const INTERACTIVE_SELECTOR = [
    'button', 'a', 'input', 'select', 'textarea', 'label', 'summary', '[onclick]',
    ...['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem', 'menuitemcheckbox',
      'menuitemradio', 'option', 'treeitem', 'combobox'].map((r) => `[role=${r}]`),
  ].join(',');
  const FORM_FIELD_TAGS = new Set(['input', 'select', 'textarea']);
  const SKIP_TEXT_TAGS = new Set(['script', 'style', 'template', 'noscript', 'head', 'title', 'meta', 'link']);
  const NAME_FROM_CONTENT_ROLES = new Set(['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem',
    'menuitemcheckbox', 'menuitemradio', 'option', 'treeitem', 'heading', 'cell', 'columnheader',
    'rowheader', 'tooltip', 'gridcell', 'row']);
  const STATE_CLASS = /^(active|selected|focus(ed)?|hover(ed)?|open(ed)?|closed|disabled|checked|current|visible|hidden|show|shown|in|collapsed|expanded|loading|(is|has)-.*)$/i;
  const STABLE_ATTRS = ['name', 'type', 'role', 'href', 'aria-label', 'title', 'alt', 'placeholder', 'for',
    'action', 'method', 'src', 'value', ...TEST_ID_ATTRS];
  // Attributes whose value a form field may hold a person's input in: never copied.
  const VALUE_BEARING_TYPES = new Set(['button', 'submit', 'reset', 'image', 'checkbox', 'radio']);

  /** Benchmark ground truth (data-lab-*) is skipped on purpose: the generator must never read it. */
  function isGroundTruthAttr(name) {
    return name === 'data-lab' || name.startsWith('data-lab-');
  }

  // ---- Text ---------------------------------------------------------------------------

  function collapse(s) {
    return String(s == null ? '' : s).replace(/\s+/g, ' ').trim();
  }

  /** Text without the parts that change between loads: tokens with digits, edge punctuation. */
  function stableText(s) {
    const words = [];
    for (const raw of collapse(s).split(' ')) {
      if (!raw || /\d/.test(raw)) continue;
      const word = raw.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
      if (word) words.push(word);
    }
    return words.join(' ');
  }

  function textMatches(actual, wanted, strict) {
    if (strict) return collapse(actual) === wanted;
    const want = stableText(wanted).toLowerCase();
    return want !== '' && stableText(actual).toLowerCase() === want;
  }

  /** Child nodes as rendered: a host shows its shadow tree, a slot its assigned nodes. */
  function renderedChildren(node) {
    if (node.shadowRoot) return node.shadowRoot.childNodes;
    if (node.localName === 'slot' && typeof node.assignedNodes === 'function') {
      const assigned = node.assignedNodes({ flatten: true });
      if (assigned.length) return assigned;
    }
    return node.childNodes;
  }

  /** Visible-ish text of an element (no layout needed); form controls' contents optional. */
  function elementText(el, skipControls) {
    let out = '';
    const visit = (node) => {
      for (const child of renderedChildren(node)) {
        if (child.nodeType === 3) out += child.data;
        else if (child.nodeType === 1) {
          if (SKIP_TEXT_TAGS.has(child.localName) || child.hidden) continue;
          if (skipControls && (FORM_FIELD_TAGS.has(child.localName) || child.localName === 'button')) continue;
          out += ' ';
          visit(child);
          out += ' ';
        }
      }
    };
    visit(el);
    return collapse(out);
  }

  // ---- Tree walking (open shadow roots included) ---------------------------------------

  function composedParent(el) {
    if (el.parentElement) return el.parentElement;
    const root = el.parentNode;
    return root && root.nodeType === 11 && root.host ? root.host : null;
  }

  /** Every element under scope in tree order, descending into open shadow roots at their host. */
  function allElements(scope) {
    const out = [];
    const walk = (node) => {
      for (let c = node.firstElementChild; c; c = c.nextElementSibling) {
        out.push(c);
        if (c.shadowRoot) walk(c.shadowRoot);
        walk(c);
      }
    };
    if (scope.nodeType === 1 && scope.shadowRoot) walk(scope.shadowRoot);
    walk(scope);
    return out;
  }

  /** The scope itself plus every open shadow root under it. */
  function searchRoots(scope) {
    const roots = [scope];
    if (scope.nodeType === 1 && scope.shadowRoot) roots.push(scope.shadowRoot);
    for (const el of allElements(scope)) if (el.shadowRoot) roots.push(el.shadowRoot);
    return roots;
  }

  function docOf(node) {
    return node.nodeType === 9 ? node : node.ownerDocument;
  }

  /** A hidden-element test: the browser's checkVisibility where there is layout, computed styles otherwise (jsdom). */
  function makeHiddenCheck() {
    const cache = new Map();
    const ownHidden = (el) => {
      if (el.hidden || (el.localName === 'input' && (el.getAttribute('type') || '').toLowerCase() === 'hidden')) return true;
      if (el.localName === 'dialog' && !el.hasAttribute('open')) return true;
      const view = docOf(el).defaultView;
      if (!view || !view.getComputedStyle) return false;
      return view.getComputedStyle(el).display === 'none';
    };
    const hidden = (el) => {
      if (cache.has(el)) return cache.get(el);
      const parent = composedParent(el);
      const result = ownHidden(el) || (parent ? hidden(parent) : false);
      cache.set(el, result);
      return result;
    };
    return (el) => {
      if (typeof el.checkVisibility === 'function') return !el.checkVisibility({ visibilityProperty: true });
      if (hidden(el)) return true;
      const view = docOf(el).defaultView;
      const style = view && view.getComputedStyle ? view.getComputedStyle(el) : null;
      return !!style && (style.visibility === 'hidden' || style.visibility === 'collapse');
    };
  }

  // ---- Roles and accessible names -------------------------------------------------------

  const TAG_ROLES = {
    button: 'button', textarea: 'textbox', h1: 'heading', h2: 'heading', h3: 'heading',
    h4: 'heading', h5: 'heading', h6: 'heading', nav: 'navigation', main: 'main', aside: 'complementary',
    form: 'form', article: 'article', dialog: 'dialog', ul: 'list', ol: 'list', menu: 'list',
    li: 'listitem', table: 'table', tr: 'row', td: 'cell', th: 'columnheader', option: 'option',
    fieldset: 'group', details: 'group', progress: 'progressbar', hr: 'separator', output: 'status',
    search: 'search',
  };
  const INPUT_ROLES = {
    button: 'button', submit: 'button', reset: 'button', image: 'button', checkbox: 'checkbox',
    radio: 'radio', range: 'slider', number: 'spinbutton', hidden: null,
  };

  function roleOf(el) {
    const explicit = collapse(el.getAttribute('role')).split(' ')[0];
    if (explicit) return explicit.toLowerCase();
    const tag = el.localName;
    if (tag === 'a' || tag === 'area') return el.hasAttribute('href') ? 'link' : null;
    if (tag === 'input') {
      const type = (el.getAttribute('type') || 'text').toLowerCase();
      if (type in INPUT_ROLES) return INPUT_ROLES[type];
      if (el.hasAttribute('list')) return 'combobox';
      return type === 'search' ? 'searchbox' : 'textbox';
    }
    if (tag === 'select') return el.multiple || Number(el.getAttribute('size')) > 1 ? 'listbox' : 'combobox';
    if (tag === 'img') return el.getAttribute('alt') === '' ? 'presentation' : 'img';
    if (tag === 'section') return el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby') ? 'region' : null;
    if (tag === 'header' || tag === 'footer') {
      for (let p = composedParent(el); p; p = composedParent(p)) {
        if (['article', 'aside', 'main', 'nav', 'section'].includes(p.localName)) return null;
      }
      return tag === 'header' ? 'banner' : 'contentinfo';
    }
    return Object.prototype.hasOwnProperty.call(TAG_ROLES, tag) ? TAG_ROLES[tag] : null;
  }

  function byIdInRoot(el, id) {
    const root = el.getRootNode();
    return root.getElementById ? root.getElementById(id) : null;
  }

  /** <label> and aria-labelledby text of a form field, its own contents excluded. */
  function labelText(el) {
    const ids = collapse(el.getAttribute('aria-labelledby'));
    if (ids) return collapse(ids.split(' ').map((id) => byIdInRoot(el, id)).filter(Boolean).map((l) => elementText(l, true)).join(' '));
    const labels = [];
    const root = el.getRootNode();
    if (el.id && root.querySelectorAll) labels.push(...root.querySelectorAll(`label[for="${cssString(el.id)}"]`));
    const wrapping = el.parentElement && el.parentElement.closest('label');
    if (wrapping && !labels.includes(wrapping)) labels.push(wrapping);
    return collapse(labels.map((l) => elementText(l, true)).join(' '));
  }

  function nameFromContent(el) {
    let out = '';
    const visit = (node) => {
      for (const child of renderedChildren(node)) {
        if (child.nodeType === 3) { out += child.data; continue; }
        if (child.nodeType !== 1 || SKIP_TEXT_TAGS.has(child.localName) || child.hidden) continue;
        if (child.getAttribute('aria-hidden') === 'true') continue;
        const label = collapse(child.getAttribute('aria-label'));
        if (label) out += ` ${label} `;
        else if (child.localName === 'img') out += ` ${child.getAttribute('alt') || ''} `;
        else { out += ' '; visit(child); out += ' '; }
      }
    };
    visit(el);
    return collapse(out);
  }

  /** Accessible name, a practical subset of accname-1.2. */
  function accessibleName(el) {
    const ids = collapse(el.getAttribute('aria-labelledby'));
    if (ids) {
      const name = ids.split(' ').map((id) => byIdInRoot(el, id)).filter(Boolean).map((l) => nameFromContent(l)).join(' ');
      if (collapse(name)) return collapse(name);
    }
    const ariaLabel = collapse(el.getAttribute('aria-label'));
    if (ariaLabel) return ariaLabel;
    const tag = el.localName;
    if (tag === 'input') {
      const type = (el.getAttribute('type') || 'text').toLowerCase();
      if (type === 'submit' || type === 'reset' || type === 'button') {
        return collapse(el.getAttribute('value')) || (type === 'submit' ? 'Submit' : type === 'reset' ? 'Reset' : '');
      }
      if (type === 'image') return collapse(el.getAttribute('alt')) || collapse(el.getAttribute('title'));
    }
    if (FORM_FIELD_TAGS.has(tag)) {
      return labelText(el) || collapse(el.getAttribute('title')) || collapse(el.getAttribute('placeholder'));
    }
    if (tag === 'img' || tag === 'area') return collapse(el.getAttribute('alt')) || collapse(el.getAttribute('title'));
    const role = roleOf(el);
    if (role && NAME_FROM_CONTENT_ROLES.has(role)) {
      const content = nameFromContent(el);
      if (content) return content;
    }
    return collapse(el.getAttribute('title'));
  }

  // ---- Stability checks ------------------------------------------------------------------

  /** False for tokens that look generated: long digit runs, hashes, uuids, framework ids. */
  function isStableToken(s) {
    if (!s || s.length > 64) return false;
    if (/\d{3,}/.test(s)) return false;
    if (/^[:«]|[:»]$/.test(s) || /^(radix|headlessui|react-aria|mui|ember|yui|ext-gen|gwt-uid|jsx|svelte|css|sc|emotion)[-_:\d]/i.test(s)) return false;
    if (/[0-9a-f]{8}-[0-9a-f]{4}-/i.test(s)) return false;
    // CSS modules (Name_local__a8Xk2); a BEM element (card__title) is lowercase letters only.
    if (/__[A-Za-z0-9-]{4,}$/.test(s) && /[\dA-Z]/.test(s.split('__').pop())) return false;
    for (const part of s.split(/[-_:.]+/)) {
      const digits = (part.match(/\d/g) || []).length;
      // Letters and digits mixed (k3x9q1, x7Ab2) are hashes; a short word and one digit (step2) is not.
      if (part.length >= 5 && digits >= 1 && /[a-z]/i.test(part)) {
        const letters = part.slice(0, -1);
        if (!/^[a-z]{1,5}\d$/i.test(part) || looksRandom(letters) || /[aeiou]{3,}/i.test(letters)) return false;
      }
      if (part.length >= 6 && /^[0-9a-f]+$/i.test(part) && digits >= 2) return false;
      if (part.length >= 5 && part.length <= 8 && /^[a-z]+$/i.test(part) && caseChanges(part) >= 3) return false;
      if (part.length >= 5 && /^[a-z]+$/i.test(part) && looksRandom(part)) return false;
    }
    return true;
  }

  /** Random letters rarely read as a word: no vowel at all, or five consonants in a row. */
  function looksRandom(letters) {
    return !/[aeiouy]/i.test(letters) || /[^aeiouy]{5,}/i.test(letters);
  }

  function caseChanges(s) {
    let changes = 0;
    for (let i = 1; i < s.length; i++) {
      const a = s[i - 1] === s[i - 1].toUpperCase();
      const b = s[i] === s[i].toUpperCase();
      if (a !== b) changes++;
    }
    return changes;
  }

  function stableClasses(el) {
    const cls = typeof el.className === 'string' ? el.className : (el.getAttribute('class') || '');
    return collapse(cls).split(' ').filter((c) => c && isStableToken(c) && !STATE_CLASS.test(c));
  }

  function stableId(el) {
    const id = el.getAttribute('id');
    return id && isStableToken(id) ? id : null;
  }

  function isStableValue(v) {
    return !!v && v.length <= MAX_ATTR_VALUE_CHARS && !/\d{6,}|[0-9a-f]{12,}/i.test(v) && !/^javascript:/i.test(v) && v !== '#';
  }

  /** Attributes worth comparing and selecting on; form values and ground truth left out. */
  function stableAttributes(el) {
    const out = {};
    const type = (el.getAttribute('type') || '').toLowerCase();
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name;
      if (isGroundTruthAttr(name)) continue; // never read, on purpose
      const listed = STABLE_ATTRS.includes(name);
      if (!listed && !(name.startsWith('data-') && name.length <= 40)) continue;
      if (name === 'value' && !(el.localName === 'button' || el.localName === 'option' || VALUE_BEARING_TYPES.has(type))) continue;
      let value = collapse(attr.value);
      if (name === 'src') value = value.split('?')[0];
      if (!isStableValue(value) || (!listed && !isStableToken(value.replace(/\s+/g, '-')))) continue;
      out[name] = value;
    }
    const id = stableId(el);
    if (id) out.id = id;
    const classes = stableClasses(el);
    if (classes.length) out.class = classes.join(' ');
    return out;
  }

  // ---- Escaping ----------------------------------------------------------------------------

  function cssEscape(ident) {
    let out = '';
    const s = String(ident);
    for (let i = 0; i < s.length; i++) {
      const ch = s[i];
      const code = s.charCodeAt(i);
      if (code === 0) out += '\uFFFD';
      else if ((code >= 1 && code <= 31) || code === 127 || (/[0-9]/.test(ch) && (i === 0 || (i === 1 && s[0] === '-')))) out += `\\${code.toString(16)} `;
      else if (i === 0 && ch === '-' && s.length === 1) out += '\\-';
      else if (/[a-zA-Z0-9_-]/.test(ch) || code >= 128) out += ch;
      else out += `\\${ch}`;
    }
    return out;
  }

  function cssString(v) {
    return String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\a ');
  }

  function xpathLiteral(v) {
    if (!v.includes('"')) return `"${v}"`;
    if (!v.includes("'")) return `'${v}'`;
    return `concat(${v.split('"').map((p) => `"${p}"`).join(`, '"', `)})`;
  }

  function quoted(v, strict) {
    return JSON.stringify(v) + (strict ? 's' : '');
  }

  // ---- Query -------------------------------------------------------------------------------

  /** Split on " >> " outside quotes and brackets. */
  function splitChain(selector) {
    const parts = [];
    let depth = 0; let quote = null; let start = 0;
    for (let i = 0; i < selector.length; i++) {
      const ch = selector[i];
      if (quote) {
        if (ch === '\\') i++;
        else if (ch === quote) quote = null;
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '[' || ch === '(') depth++;
      else if (ch === ']' || ch === ')') depth--;
      else if (depth === 0 && selector.startsWith(' >> ', i)) {
        parts.push(selector.slice(start, i));
        start = i + 4;
        i += 3;
      }
    }
    parts.push(selector.slice(start));
    return parts.map((p) => p.trim());
  }

  function parseQuoted(body, part) {
    const m = /^(".*")(s?)$/s.exec(body);
    if (!m) throw new Error(`codesightSelectors: expected a quoted value in ${JSON.stringify(part)}`);
    return { value: JSON.parse(m[1]), strict: m[2] === 's' };
  }

  function parsePart(part) {
    const m = /^([a-z]+)=(.*)$/s.exec(part);
    if (!m || !ENGINES[m[1]]) return { engine: 'css', body: part };
    return { engine: m[1], body: m[2] };
  }

  const ENGINES = {
    css(body, scope) {
      const out = [];
      for (const root of searchRoots(scope)) out.push(...root.querySelectorAll(body));
      return out;
    },
    xpath(body, scope) {
      const out = [];
      for (const root of searchRoots(scope)) {
        const expr = root.nodeType !== 9 && body.startsWith('/') ? `.${body}` : body;
        out.push(...(root.nodeType === 11 ? xpathInShadowRoot(expr, root) : evaluateXPath(expr, root)));
      }
      return out;
    },
    role(body, scope, part) {
      const m = /^([a-z-]+)(?:\[name=(".*"s?)\])?$/s.exec(body);
      if (!m) throw new Error(`codesightSelectors: bad role selector ${JSON.stringify(part)}`);
      const wanted = m[2] ? parseQuoted(m[2], part) : null;
      const hidden = makeHiddenCheck();
      return allElements(scope).filter((el) => roleOf(el) === m[1] && !hidden(el)
        && (!wanted || textMatches(accessibleName(el), wanted.value, wanted.strict)));
    },
    text(body, scope, part) {
      const { value, strict } = parseQuoted(body, part);
      const hidden = makeHiddenCheck();
      const matching = allElements(scope).filter((el) => !SKIP_TEXT_TAGS.has(el.localName)
        && textMatches(elementText(el), value, strict) && !hidden(el));
      const hasMatchingDescendant = new Set();
      for (const el of matching) for (let p = composedParent(el); p; p = composedParent(p)) hasMatchingDescendant.add(p);
      const out = new Set();
      for (const el of matching) if (!hasMatchingDescendant.has(el)) out.add(retarget(el));
      return [...out];
    },
    label(body, scope, part) {
      const { value, strict } = parseQuoted(body, part);
      const hidden = makeHiddenCheck();
      return allElements(scope).filter((el) => (FORM_FIELD_TAGS.has(el.localName) || el.hasAttribute('aria-labelledby'))
        && textMatches(labelText(el), value, strict) && !hidden(el));
    },
    placeholder: attributeEngine('placeholder'),
    alt: attributeEngine('alt'),
    title: attributeEngine('title'),
    testid(body, scope, part) {
      const value = body.startsWith('"') ? parseQuoted(body, part).value : body;
      return allElements(scope).filter((el) => TEST_ID_ATTRS.some((a) => el.getAttribute(a) === value));
    },
  };

  function attributeEngine(name) {
    return (body, scope, part) => {
      const { value, strict } = parseQuoted(body, part);
      const hidden = makeHiddenCheck();
      return allElements(scope).filter((el) => el.hasAttribute(name)
        && textMatches(el.getAttribute(name), value, strict) && !hidden(el));
    };
  }

  function evaluateXPath(expr, context) {
    const snap = docOf(context).evaluate(expr, context, null, 7 /* ORDERED_NODE_SNAPSHOT_TYPE */, null);
    const out = [];
    for (let i = 0; i < snap.snapshotLength; i++) {
      const node = snap.snapshotItem(i);
      if (node.nodeType === 1) out.push(node);
    }
    return out;
  }

  /**
   * Chrome refuses a shadow root (a document fragment) as XPath context, so the expression
   * runs from the root's top-level elements: ".//a[...]" becomes "descendant-or-self::a[...]"
   * from each, and "./tag[k]/rest" picks the k-th top-level tag and runs "./rest" from it.
   */
  function xpathInShadowRoot(expr, root) {
    const top = Array.from(root.children);
    if (expr.startsWith('.//')) return top.flatMap((c) => evaluateXPath(`descendant-or-self::${expr.slice(3)}`, c));
    const m = /^\.\/(\*\[local-name\(\)="([^"]+)"\]|([\w-]+))\[(\d+)\](.*)$/s.exec(expr);
    if (!m) return [];
    const picked = top.filter((c) => c.localName === (m[2] || m[3]))[Number(m[4]) - 1];
    if (!picked) return [];
    return m[5] ? evaluateXPath(`.${m[5]}`, picked) : [picked];
  }

  /** The elements one candidate (or selector string) matches now under root. */
  function query(candidate, root) {
    const selector = typeof candidate === 'string' ? candidate : candidate && candidate.selector;
    if (!selector) throw new Error('codesightSelectors.query: candidate has no selector');
    let scopes = [root || globalThis.document];
    for (const part of splitChain(selector)) {
      const nth = /^nth=(\d+)$/.exec(part);
      if (nth) { scopes = scopes.length > Number(nth[1]) ? [scopes[Number(nth[1])]] : []; continue; }
      if (part.startsWith('has-text=')) {
        const wanted = stableText(parseQuoted(part.slice('has-text='.length), part).value).toLowerCase();
        scopes = scopes.filter((el) => wanted && stableText(elementText(el)).toLowerCase().includes(wanted));
        continue;
      }
      const { engine, body } = parsePart(part);
      const next = new Set();
      for (const scope of scopes) for (const el of ENGINES[engine](body, scope, part)) next.add(el);
      scopes = [...next];
    }
    return scopes;
  }

  // ---- Generation --------------------------------------------------------------------------

  /** A click on an inner node (icon, span) means its interactive ancestor. */
  function retarget(node) {
    let el = node && node.nodeType === 3 ? node.parentElement : node;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      if (e.localName === 'body' || e.localName === 'html') break;
      if (e.matches(INTERACTIVE_SELECTOR)) return e;
    }
    return el;
  }

  function cssStep(el, nthCount) {
    // Without @namespace a type selector matches any namespace, so svg steps need nothing special.
    let step = cssEscape(el.localName) + stableClasses(el).slice(0, 2).map((c) => `.${cssEscape(c)}`).join('');
    const parent = el.parentElement || el.parentNode;
    const sameTag = parent ? Array.from(parent.children).filter((c) => c.localName === el.localName) : [el];
    if (sameTag.length > 1 && sameTag.some((c) => c !== el && c.matches(step))) {
      step += `:nth-of-type(${sameTag.indexOf(el) + 1})`;
      nthCount.n++;
    }
    return step;
  }

  function anchorCss(el) {
    for (const a of TEST_ID_ATTRS) {
      const v = el.getAttribute(a);
      if (v) return `[${a}="${cssString(v)}"]`;
    }
    const id = stableId(el);
    return id ? `#${cssEscape(id)}` : null;
  }

  /** Shortest CSS path over stable classes that is unique; stops at an id/testid anchor. */
  function cssPath(target, isUnique) {
    const nthCount = { n: 0 };
    const steps = [cssStep(target, nthCount)];
    const treeRoot = target.getRootNode();
    const bare = steps[0].replace(/:nth-of-type\(\d+\)$/, '');
    // A lone tag ("button") is unique only until anything else of its kind appears.
    if (bare.includes('.') && isUnique(`css=${bare}`)) return { selector: `css=${bare}`, steps: 1, nth: 0 };
    for (let e = target.parentElement; e && e !== treeRoot; e = e.parentElement) {
      const anchor = anchorCss(e);
      if (anchor) {
        const short = `css=${anchor} ${steps[steps.length - 1]}`;
        if (isUnique(short)) return { selector: short, steps: 2, nth: /nth-of-type/.test(short) ? 1 : 0 };
        const full = `css=${anchor} > ${steps.join(' > ')}`;
        if (isUnique(full)) return { selector: full, steps: steps.length + 1, nth: nthCount.n };
      }
      steps.unshift(cssStep(e, nthCount));
      const path = `css=${steps.join(' > ')}`;
      if (isUnique(path)) return { selector: path, steps: steps.length, nth: nthCount.n };
    }
    return null;
  }

  function xpathTag(el) {
    return el.namespaceURI === 'http://www.w3.org/1999/xhtml' ? el.localName : `*[local-name()=${xpathLiteral(el.localName)}]`;
  }

  /** Relative XPaths anchored on the element's own stable attributes or text, or a stable ancestor. */
  function xpathCandidates(target, attrs) {
    const tag = xpathTag(target);
    const preds = [];
    for (const key of ['id', ...TEST_ID_ATTRS, 'name', 'aria-label', 'placeholder', 'title', 'alt', 'href', 'for']) {
      if (attrs[key]) preds.push(`@${key}=${xpathLiteral(attrs[key])}`);
    }
    const text = elementText(target);
    if (text && text.length <= MAX_TEXT_SELECTOR_CHARS && !FORM_FIELD_TAGS.has(target.localName)) {
      const stable = stableText(text);
      if (stable === text) preds.push(`normalize-space(.)=${xpathLiteral(text)}`);
      else if (stable && text.includes(stable)) preds.push(`contains(normalize-space(.), ${xpathLiteral(stable)})`);
    }
    const out = preds.map((p) => `xpath=//${tag}[${p}]`);
    const treeRoot = target.getRootNode();
    for (let e = target.parentElement; e && e !== treeRoot; e = e.parentElement) {
      const key = stableId(e) ? 'id' : TEST_ID_ATTRS.find((a) => e.hasAttribute(a));
      if (!key) continue;
      const anchor = `//*[@${key}=${xpathLiteral(e.getAttribute(key))}]`;
      for (const p of preds) out.push(`xpath=${anchor}//${tag}[${p}]`);
      out.push(`xpath=${anchor}${positionalPath(target, e)}`);
      break;
    }
    return out;
  }

  /** "/div[2]/button[1]" from ancestor (exclusive) down to el. */
  function positionalPath(el, ancestor) {
    const steps = [];
    for (let e = el; e && e !== ancestor && e.nodeType === 1; e = e.parentElement) {
      const parent = e.parentElement || e.parentNode;
      const same = parent ? Array.from(parent.children).filter((c) => c.localName === e.localName) : [e];
      steps.unshift(`${xpathTag(e)}[${same.indexOf(e) + 1}]`);
    }
    return `/${steps.join('/')}`;
  }

  /** Absolute positional XPath; inside shadow trees, chained from the host's own. */
  function absolutePath(el) {
    const root = el.getRootNode();
    if (root.nodeType === 11 && root.host) return `${absolutePath(root.host)} >> xpath=.${positionalPath(el, null)}`;
    return `xpath=${positionalPath(el, null)}`;
  }

  function semanticCandidates(target, attrs) {
    const out = [];
    const push = (kind, selector, base, mods) => out.push({ kind, selector, score: combineScore(base, mods) });
    const pushText = (kind, engine, raw, base) => {
      const text = collapse(raw);
      const stable = stableText(text);
      if (stable && stable.length <= MAX_TEXT_SELECTOR_CHARS) push(kind, `${engine}=${quoted(stable)}`, base);
      if (text && text !== stable && text.length <= MAX_TEXT_SELECTOR_CHARS) push(kind, `${engine}=${quoted(text, true)}`, base, { strict: true });
    };
    TEST_ID_ATTRS.forEach((a, i) => {
      if (attrs[a]) push('testid', `testid=${quoted(attrs[a])}`, i === 0 ? TESTID_SCORE : OTHER_TESTID_SCORE);
    });
    const role = roleOf(target);
    if (role) {
      const name = accessibleName(target);
      const stable = stableText(name);
      if (stable && stable.length <= MAX_TEXT_SELECTOR_CHARS) push('role', `role=${role}[name=${quoted(stable)}]`, ROLE_NAME_SCORE);
      if (name && name !== stable && name.length <= MAX_TEXT_SELECTOR_CHARS) push('role', `role=${role}[name=${quoted(name, true)}]`, ROLE_NAME_SCORE, { strict: true });
    }
    if (FORM_FIELD_TAGS.has(target.localName)) pushText('label', 'label', labelText(target), LABEL_SCORE);
    if (attrs.placeholder) pushText('placeholder', 'placeholder', attrs.placeholder, PLACEHOLDER_SCORE);
    if (attrs.alt) pushText('alt', 'alt', attrs.alt, ALT_SCORE);
    if (attrs.title) pushText('title', 'title', attrs.title, TITLE_SCORE);
    if (!FORM_FIELD_TAGS.has(target.localName)) pushText('text', 'text', elementText(target), TEXT_SCORE);
    if (attrs.id) push('id', `css=#${cssEscape(attrs.id)}`, ID_SCORE);
    const tag = target.localName;
    const attrKeys = Object.keys(attrs).filter((k) => !['id', 'class', 'title', 'alt', 'placeholder', 'role', 'src', ...TEST_ID_ATTRS].includes(k));
    for (const k of attrKeys) push('attr', `css=${cssEscape(tag)}[${k}="${cssString(attrs[k])}"]`, ATTR_SCORE);
    if (attrs.type && attrs.name) push('attr', `css=${cssEscape(tag)}[type="${cssString(attrs.type)}"][name="${cssString(attrs.name)}"]`, ATTR_SCORE);
    if (role && !INTERACTIVE_ROLES.has(role)) push('role', `role=${role}`, ROLE_ONLY_SCORE);
    return out;
  }

  /** The nearest ancestors that one selector alone finds: anchors to scope ambiguous candidates. */
  function ancestorAnchors(target, isUniqueFor) {
    const anchors = [];
    let levels = 0;
    for (let e = composedParent(target); e && levels < 8 && e.localName !== 'body' && e.localName !== 'html'; e = composedParent(e), levels++) {
      const attrs = stableAttributes(e);
      const options = [];
      TEST_ID_ATTRS.forEach((a, i) => { if (attrs[a]) options.push([`testid=${quoted(attrs[a])}`, i === 0 ? TESTID_SCORE : OTHER_TESTID_SCORE]); });
      if (attrs.id) options.push([`css=#${cssEscape(attrs.id)}`, ID_SCORE]);
      for (const k of Object.keys(attrs).filter((k) => k.startsWith('data-') && !TEST_ID_ATTRS.includes(k))) {
        options.push([`css=${cssEscape(e.localName)}[${k}="${cssString(attrs[k])}"]`, ATTR_SCORE]);
      }
      const role = roleOf(e);
      const name = role ? stableText(accessibleName(e)) : '';
      // A heading named by the very link inside it tells nothing the link's own name does not.
      const echoesTarget = name && stableText(elementText(target)) === name;
      if (name && !echoesTarget && name.length <= MAX_TEXT_SELECTOR_CHARS) options.push([`role=${role}[name=${quoted(name)}]`, ROLE_NAME_SCORE]);
      let found = options.find(([sel]) => isUniqueFor(sel, e));
      if (!found) {
        const step = cssEscape(e.localName) + stableClasses(e).slice(0, 2).map((c) => `.${cssEscape(c)}`).join('');
        found = distinguishingTexts(e, target).map((t) => [`css=${step} >> has-text=${quoted(t)}`, HAS_TEXT_ANCHOR_SCORE])
          .find(([sel]) => isUniqueFor(sel, e));
      }
      if (found) anchors.push({ selector: found[0], score: found[1] });
      if (anchors.length >= 2) break;
    }
    return anchors;
  }

  /** Short texts inside a container, headings first, that could tell it from its look-alikes. */
  function distinguishingTexts(container, target) {
    const outside = allElements(container).filter((el) => !el.contains(target) && !target.contains(el));
    const headings = outside.filter((el) => /^h[1-6]$/.test(el.localName) || el.getAttribute('role') === 'heading');
    const leaves = outside.filter((el) => !el.firstElementChild);
    const texts = [];
    for (const el of [...headings, ...leaves]) {
      const t = stableText(elementText(el));
      if (t.length >= 2 && t.length <= MAX_TEXT_SELECTOR_CHARS && !texts.includes(t)) texts.push(t);
      if (texts.length >= 4) break;
    }
    return texts;
  }

  function ancestorSummaries(el) {
    const out = [];
    for (let e = composedParent(el); e && out.length < ANCESTOR_LEVELS && e.localName !== 'html'; e = composedParent(e)) {
      const summary = { tag: e.localName };
      const role = roleOf(e);
      if (role) summary.role = role;
      const id = stableId(e);
      if (id) summary.id = id;
      const testid = TEST_ID_ATTRS.map((a) => e.getAttribute(a)).find(Boolean);
      if (testid) summary.testid = testid;
      const classes = stableClasses(e).slice(0, 3);
      if (classes.length) summary.classes = classes;
      out.push(summary);
      if (e.localName === 'body') break;
    }
    return out;
  }

  function rectOf(el) {
    if (typeof el.getBoundingClientRect !== 'function') return { x: 0, y: 0, w: 0, h: 0 };
    const r = el.getBoundingClientRect();
    const view = docOf(el).defaultView;
    const sx = (view && view.scrollX) || 0;
    const sy = (view && view.scrollY) || 0;
    return { x: Math.round(r.left + sx), y: Math.round(r.top + sy), w: Math.round(r.width), h: Math.round(r.height) };
  }

  function siblingText(el) {
    const around = [el.previousElementSibling, el.nextElementSibling].filter(Boolean);
    return around.map((s) => elementText(s, true).slice(0, 80)).filter(Boolean).join(' | ');
  }

  /** What fuzzy relocation compares: tag, text, stable attributes, box, ancestors, neighbours. */
  function fingerprint(el) {
    return {
      tag: el.localName,
      role: roleOf(el) || '',
      name: accessibleName(el).slice(0, 200),
      text: FORM_FIELD_TAGS.has(el.localName) ? '' : elementText(el).slice(0, 200),
      attrs: stableAttributes(el),
      rect: rectOf(el),
      ancestors: ancestorSummaries(el),
      siblingText: siblingText(el),
    };
  }

  /** Ranked selector candidates and a fingerprint for the element a click on `element` means. */
  function generate(element) {
    const target = retarget(element);
    if (!target || target.nodeType !== 1) throw new Error('codesightSelectors.generate: expected an element');
    const doc = target.ownerDocument;
    const memo = new Map();
    const matchesOf = (selector) => {
      if (!memo.has(selector)) memo.set(selector, query(selector, doc));
      return memo.get(selector);
    };
    const isUniqueFor = (selector, el) => { const m = matchesOf(selector); return m.length === 1 && m[0] === el; };
    const isUnique = (selector) => isUniqueFor(selector, target);
    const attrs = stableAttributes(target);
    const found = [];
    const ambiguous = [];
    for (const c of semanticCandidates(target, attrs)) {
      const matches = matchesOf(c.selector);
      if (matches.length === 1 && matches[0] === target) found.push(c);
      else if (matches.includes(target)) ambiguous.push({ ...c, index: matches.indexOf(target) });
    }
    const foundKinds = new Set(found.map((c) => c.kind));
    const anchors = ambiguous.length ? ancestorAnchors(target, isUniqueFor) : [];
    for (const c of ambiguous) {
      const roleOnly = c.selector.startsWith('role=') && !c.selector.includes('[name=');
      if (roleOnly && foundKinds.has('role')) continue;
      const scoped = anchors.map((a) => ({ kind: c.kind, selector: `${a.selector} >> ${c.selector}`, score: c.score + a.score + SCOPE_PENALTY }))
        .find((s) => isUnique(s.selector));
      if (scoped) found.push(scoped);
      else if (POSITIONAL_KINDS.has(c.kind) && !roleOnly && !foundKinds.has(c.kind) && !c.selector.endsWith('s]') && !c.selector.endsWith('"s')) {
        const positional = `${c.selector} >> nth=${c.index}`;
        if (isUnique(positional)) found.push({ kind: c.kind, selector: positional, score: combineScore(c.score, { nthIndex: true }) });
      }
    }
    const css = cssPath(target, isUnique);
    if (css) found.push({ kind: 'css', selector: css.selector, score: combineScore(CSS_SCORE, { cssSteps: css.steps, cssNthSteps: css.nth }) });
    const xpath = xpathCandidates(target, attrs).find(isUnique);
    if (xpath) found.push({ kind: 'xpath', selector: xpath, score: XPATH_SCORE });
    const absolute = absolutePath(target);
    const absoluteUnique = isUnique(absolute);
    found.push({ kind: 'nth', selector: absolute, score: NTH_SCORE, ...(absoluteUnique ? {} : { unique: false }) });
    const seen = new Set();
    const candidates = found
      .filter((c) => c.selector.length <= MAX_SELECTOR_CHARS && !seen.has(c.selector) && seen.add(c.selector))
      .sort((a, b) => a.score - b.score)
      .map((c) => ({ kind: c.kind, selector: c.selector, score: c.score, unique: c.unique !== false }));
    return { candidates, fingerprint: fingerprint(target) };
  }

  // ---- Fuzzy relocation --------------------------------------------------------------------

  function bigrams(s) {
    const out = new Map();
    for (let i = 0; i < s.length - 1; i++) { const g = s.slice(i, i + 2); out.set(g, (out.get(g) || 0) + 1); }
    return out;
  }

  /** Sørensen–Dice coefficient over character bigrams, digits ignored. */
  function textSimilarity(a, b) {
    const x = stableText(a).toLowerCase();
    const y = stableText(b).toLowerCase();
    if (x === y) return 1;
    if (!x || !y) return 0;
    const gx = bigrams(x); const gy = bigrams(y);
    let common = 0; let total = 0;
    for (const [g, n] of gx) { common += Math.min(n, gy.get(g) || 0); total += n; }
    for (const n of gy.values()) total += n;
    return total ? (2 * common) / total : 0;
  }

  function setSimilarity(a, b) {
    const x = new Set(collapse(a).split(' ').filter(Boolean));
    const y = new Set(collapse(b).split(' ').filter(Boolean));
    if (!x.size && !y.size) return 1;
    let common = 0;
    for (const v of x) if (y.has(v)) common++;
    return common / (x.size + y.size - common);
  }

  function attrsSimilarity(a, b) {
    const keys = new Set([...Object.keys(a || {}), ...Object.keys(b || {})]);
    if (!keys.size) return 1;
    let sum = 0;
    for (const k of keys) {
      if (!(k in a) || !(k in b)) continue;
      if (k === 'class') sum += setSimilarity(a[k], b[k]);
      else sum += a[k] === b[k] ? 1 : 0.5 * textSimilarity(a[k], b[k]);
    }
    return sum / keys.size;
  }

  function summarySimilarity(x, y) {
    if (x.tag !== y.tag) return 0;
    return 0.4 + 0.15 * ((x.role || '') === (y.role || ''))
      + 0.25 * ((x.id || '') === (y.id || '') && (x.testid || '') === (y.testid || ''))
      + 0.2 * setSimilarity((x.classes || []).join(' '), (y.classes || []).join(' '));
  }

  /** Captured ancestors matched in order to the live ones; a wrapper added in between costs little. */
  function ancestorsSimilarity(captured, live) {
    if (!captured.length) return live.length ? 0.5 : 1;
    let sum = 0; let from = 0;
    for (const x of captured) {
      let best = 0; let bestAt = -1;
      for (let j = from; j < Math.min(live.length, from + 3); j++) {
        const s = summarySimilarity(x, live[j]);
        if (s > best) { best = s; bestAt = j; }
      }
      if (bestAt >= 0) from = bestAt + 1;
      sum += best;
    }
    return sum / captured.length;
  }

  function positionSimilarity(a, b) {
    if (!a || !b || !a.w || !a.h || !b.w || !b.h) return null;
    const d = Math.hypot(a.x + a.w / 2 - (b.x + b.w / 2), a.y + a.h / 2 - (b.y + b.h / 2));
    return Math.max(0, 1 - d / 400);
  }

  /** Weighted similarity in [0, 1] of a live element to a captured fingerprint. */
  function similarity(fp, el) {
    if (el.localName !== fp.tag) return 0;
    const now = fingerprint(el);
    const capturedText = fp.text || fp.name || '';
    const text = textSimilarity(capturedText, now.text || now.name || '');
    const parts = {
      text,
      attrs: attrsSimilarity(fp.attrs || {}, now.attrs),
      ancestors: ancestorsSimilarity(fp.ancestors || [], now.ancestors),
      siblings: textSimilarity(fp.siblingText || '', now.siblingText),
      role: (fp.role || '') === now.role ? 1 : 0,
      position: positionSimilarity(fp.rect, now.rect),
    };
    let sum = 0; let weight = 0;
    for (const [k, w] of Object.entries(FP_WEIGHTS)) {
      if (parts[k] === null) continue;
      sum += w * parts[k];
      weight += w;
    }
    const score = weight ? sum / weight : 0;
    return stableText(capturedText) && text < TEXT_GATE ? Math.min(score, text) : score;
  }

  function relocate(fp, root) {
    const hidden = makeHiddenCheck();
    let best = null; let bestScore = 0; let second = 0;
    for (const el of allElements(root)) {
      if (el.localName !== fp.tag || hidden(el)) continue;
      const s = similarity(fp, el);
      if (s > bestScore) { second = bestScore; bestScore = s; best = el; } else if (s > second) second = s;
    }
    if (!best || bestScore < RELOCATE_MIN_SIMILARITY || bestScore - second < RELOCATE_MIN_MARGIN) return null;
    return best;
  }

  /** The element replay would pick: the first unique candidate that checks out, else the fingerprint. */
  function resolve(record, root) {
    const scope = root || globalThis.document;
    const fp = record && record.fingerprint && record.fingerprint.tag ? record.fingerprint : null;
    const hidden = makeHiddenCheck();
    for (const c of (record && record.candidates) || []) {
      if (c.unique === false) continue;
      let matches;
      try {
        matches = query(c, scope);
      } catch (err) {
        // A candidate this version cannot parse matches nothing; the next one may still work.
        continue;
      }
      // A hidden match cannot be clicked; a later candidate may find the visible twin.
      if (matches.length !== 1 || hidden(matches[0])) continue;
      const weak = !STRONG_KINDS.has(c.kind) || / >> nth=\d+$/.test(c.selector);
      if (fp && weak && similarity(fp, matches[0]) < WEAK_MATCH_MIN_SIMILARITY) continue;
      return matches[0];
    }
    return fp ? relocate(fp, scope) : null;
  }

  // similarity(fingerprint, element) in [0, 1]: how replay judges correctness where there is no ground truth.
  globalThis.codesightSelectors = { generate, query, resolve, similarity, version: 1 };
})();
