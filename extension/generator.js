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
 *   pick(record, root?) -> {element, via}: resolve's element and the index of the candidate
 *                        that found it, "fingerprint", or null when it abstains
 *   similarity(fingerprint, element) -> likeness in [0, 1]; explain(...) -> its features
 *
 * The fingerprint is what relocation compares when every candidate fails (a redesign):
 * tag, role, accessible name, text, stable attributes, box, ancestors, neighbours, the
 * readable prefix of a generated id, CSS-module class names without their hash, data-*
 * names, a select's option values, the words around the element, and `decoy`: the
 * fingerprint of the element that looked most like the target at capture (a header "Cart"
 * link beside a dialog's "View cart"), so that relocation never mistakes one for the other.
 * resolve takes the first candidate matching one rendered element that also resembles the
 * fingerprint (a low bar for semantic kinds, the relocation bar for CSS, XPath and
 * positions), else the element most like the fingerprint when it is clearly the best, else
 * nothing: a wrong element is worse than none.
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
  // Kinds whose single match replay takes after only a sanity check against the fingerprint
  // (unless positional: `>> nth=`, nth-of-type, XPath indexes).
  const TRUSTED_KINDS = new Set(['testid', 'role', 'label', 'placeholder', 'alt', 'title', 'text', 'id', 'attr']);
  // A trusted candidate's match must not be wholly unlike the captured element.
  const TRUSTED_MATCH_MIN_SIMILARITY = 0.3;
  // Any other candidate's match must resemble it as much as a relocation would.
  const WEAK_MATCH_MIN_SIMILARITY = 0.5;
  // Fingerprint relocation abstains below this similarity: a wrong element is worse than none.
  const RELOCATE_MIN_SIMILARITY = 0.5;
  // ... and when an unrelated runner-up is this close (two look-alike buttons).
  const RELOCATE_MIN_MARGIN = 0.06;
  // A lower similarity will do for an element nothing else on the page comes near.
  const CLEAR_WINNER_MIN_SIMILARITY = 0.4;
  const CLEAR_WINNER_MIN_MARGIN = 0.15;
  // Elements below this are neither picked nor rivals.
  const RIVAL_MIN_SIMILARITY = 0.2;
  // A look-alike this similar to the target is recorded beside its fingerprint (`decoy`).
  const DECOY_MIN_SIMILARITY = 0.3;
  // Text likeness below which an element with text is another element, unless an identifier
  // (id, id prefix, name, href, autocomplete, data value, option set) says otherwise.
  const TEXT_GATE = 0.5;
  // Feature weights of fingerprint likeness, as Similo (Nass et al., ICST 2021) weighs locator
  // properties: those that name the element 1.5, those describing its surroundings and looks
  // less. A feature the captured element did not have is left out of the average.
  const FP_WEIGHTS = { tag: 1.5, text: 1.5, identity: 1.5, id: 1.5, attrs: 1.5, options: 1.5, idPrefix: 1, context: 1, numbers: 0.5,
    role: 0.5, classes: 0.5, dataNames: 0.5, childData: 0.5, ancestors: 0.5, siblings: 0.5, position: 0.5 };
  // Ancestors searched for the words around an element.
  const CONTEXT_LEVELS = 4;
  const MAX_TEXT_SELECTOR_CHARS = 80;
  const MAX_ATTR_VALUE_CHARS = 200;
  // The wire's limit on one selector (lab/capture/wire.py SelectorCandidateWire.selector).
  const MAX_SELECTOR_CHARS = 4000;
  const ANCESTOR_LEVELS = 4;

  const TEST_ID_ATTRS = ['data-testid', 'data-test-id', 'data-test', 'data-qa', 'data-cy'];
  // Attributes whose equal value names the same element across a redesign.
  const IDENTITY_ATTRS = new Set(['name', 'href', 'autocomplete', 'for', 'action', 'src', 'value', ...TEST_ID_ATTRS]);
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
    'action', 'method', 'src', 'value', 'autocomplete', 'inputmode', ...TEST_ID_ATTRS];
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
      if (part.length >= 5 && part.length <= 8 && /^[a-z]+$/.test(part) && commonBigramShare(part) < MIN_COMMON_BIGRAM_SHARE) return false;
    }
    return true;
  }

  /**
   * The readable prefix of a generated id, up to and including the separator before its first
   * generated part ("subs-hdirrq" -> "subs-", "consent-accept-x7k2" -> "consent-accept-"); the
   * whole id when it is stable; '' when it starts generated. Templates keep the prefix across
   * loads and often across redesigns.
   */
  function idPrefix(id) {
    if (!id || id.length > 64) return '';
    if (isStableToken(id)) return id;
    const parts = id.split(/([-_:.])/);
    let prefix = '';
    for (let i = 0; i < parts.length; i += 2) {
      const part = parts[i];
      if (!part || !/^[a-z]+$/i.test(part) || !isStableToken(part) || (part.length >= 5 && commonBigramShare(part.toLowerCase()) < MIN_COMMON_BIGRAM_SHARE)) break;
      prefix += part + (parts[i + 1] || '');
    }
    return /[-_:.]$/.test(prefix) && prefix.length >= 3 ? prefix : '';
  }

  /** A CSS-module class's readable name, its hash dropped ("Button_primary__y4KzE" -> "Button_primary"). */
  function classStem(c) {
    const m = /^([A-Za-z][\w-]*)__([A-Za-z0-9-]{4,})$/.exec(c);
    return m && !isStableToken(c) && isStableToken(m[1]) ? m[1] : '';
  }

  /** Random letters rarely read as a word: no vowel at all, or five consonants in a row. */
  function looksRandom(letters) {
    return !/[aeiouy]/i.test(letters) || /[^aeiouy]{5,}/i.test(letters);
  }

  // The 260 most frequent letter pairs of English prose and code identifiers (counted over
  // software licence texts and Python's standard library): 97% of the pairs in such text.
  const COMMON_BIGRAMS = new Set(('se re in th er on el te en de or he at le st es me et ti lf ar al co nt ne an nd li no '
    + 'ed ro it tr io ra is ur ng ta ec am na fi ce ri ct il ex tu ma ot pa ef od pe si as fo di ve rn ea ss ns ac la pr '
    + 'ou ge rt lo ca ha nc un im om ic mp ad ll ut op ch po rs rr ul ue ls mo ts cl va pt ai to em ep us pl hi ck ho oc '
    + 'ee rg wi os da ke lu ty um su xt ob fr ap so ry lt bu sp do ir bl ag ab rm fa gs ig ni be ol tt if up bj pp yp ie '
    + 'ly ff id sh ci ow ba nu iv wa sa ib mi ru du xc wh ip ld ze ey fu nf au pi cr wr rc ds iz gi sy ia cu ys mb dd py '
    + 'ev pu yt sc je qu ay wo av ms fe rd tl oo fl eg ov gu gn tc gr nv ew bo vi bi of rk ui ub ak uf nn mm tp yo by dr '
    + 'ix br mu uc oi we nk ny ht eq nl xp sl td gl gh tw ft eo og ok ei tf ks ye np fs ax dl oa bs zi ki tm xi ua sg ps '
    + 'hr aw eb').split(' '));
  // A 5-8 letter token with fewer common pairs than this is random (flags 89% of random
  // six-letter ids, 7% of real words, which then only lose their id candidate).
  const MIN_COMMON_BIGRAM_SHARE = 0.65;

  function commonBigramShare(word) {
    let common = 0;
    for (let i = 0; i < word.length - 1; i++) if (COMMON_BIGRAMS.has(word.slice(i, i + 2))) common++;
    return common / (word.length - 1);
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

  /** An element's classes as a CSS compound: up to two stable classes, else the readable name of
   * a CSS-module class without its hash (`[class*="Row__"]`), which survives the hash changing. */
  function classSelector(el) {
    const stable = stableClasses(el).slice(0, 2);
    if (stable.length) return stable.map((c) => `.${cssEscape(c)}`).join('');
    const stem = collapse(el.getAttribute('class')).split(' ').map(classStem).find(Boolean);
    return stem ? `[class*="${cssString(stem)}__"]` : '';
  }

  function cssStep(el, nthCount) {
    // Without @namespace a type selector matches any namespace, so svg steps need nothing special.
    let step = cssEscape(el.localName) + classSelector(el);
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
        const step = cssEscape(e.localName) + classSelector(e);
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

  /** Names of the element's data-* attributes, empty-valued ones too (ground truth skipped). */
  function dataNames(el) {
    return Array.from(el.attributes, (a) => a.name)
      .filter((n) => n.startsWith('data-') && !isGroundTruthAttr(n) && n.length <= 40).sort();
  }

  /** data-* names inside the element (a price slot in a button, a count in a link). */
  function childDataNames(el) {
    const names = new Set();
    const inner = el.querySelectorAll ? Array.from(el.querySelectorAll('*')).slice(0, 40) : [];
    for (const child of inner) for (const n of dataNames(child)) names.add(n);
    return [...names].sort().slice(0, 8);
  }

  function optionValues(el) {
    return el.localName === 'select'
      ? Array.from(el.querySelectorAll('option')).slice(0, 30).map((o) => collapse(o.getAttribute('value') ?? o.textContent)).filter(Boolean)
      : [];
  }

  /** Visible text of `ancestor` outside `el`'s subtree. */
  function textOutside(ancestor, el) {
    let out = '';
    const visit = (node) => {
      for (const child of renderedChildren(node)) {
        if (child === el) continue;
        if (child.nodeType === 3) out += child.data;
        else if (child.nodeType === 1 && !SKIP_TEXT_TAGS.has(child.localName) && !child.hidden) { out += ' '; visit(child); out += ' '; }
      }
    };
    visit(ancestor);
    return collapse(out);
  }

  /** The words around the element: the nearest ancestor's text beside it (a card's title, a form's heading). */
  function contextText(el) {
    let levels = 0;
    for (let e = composedParent(el); e && levels < CONTEXT_LEVELS && e.localName !== 'body'; e = composedParent(e), levels++) {
      const text = stableText(textOutside(e, el));
      if (text.split(' ').length >= 2) return text.slice(0, 160);
    }
    return '';
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
      idPrefix: idPrefix(el.getAttribute('id') || ''),
      classStems: collapse(el.getAttribute('class')).split(' ').map(classStem).filter(Boolean).slice(0, 4),
      dataNames: dataNames(el),
      options: optionValues(el),
      context: contextText(el),
      childData: childDataNames(el),
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
    const fp = fingerprint(target);
    const decoy = lookAlike(target, fp);
    return { candidates, fingerprint: decoy ? { ...fp, decoy } : fp };
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

  // Words that carry no identity ("Add to cart" and "Add to wishlist" share only these and "add").
  const STOP_WORDS = new Set(['a', 'an', 'the', 'to', 'of', 'for', 'and', 'or', 'in', 'on', 'at', 'by', 'with', 'your',
    'my', 'our', 'you', 'is', 'it', 'this', 'that', 'me', 'us']);

  // Shop copy that redesigns swap for one another, each mapped to one word ("Add to bag" is
  // "Add to cart"; "Allow all" is "Accept all"). Plurals fold to the singular.
  const SYNONYMS = new Map(Object.entries({
    bag: 'cart', basket: 'cart', trolley: 'cart', allow: 'accept', agree: 'accept', ok: 'accept', got: 'accept',
    proceed: 'continue', next: 'continue', checkout: 'checkout', purchase: 'buy', order: 'buy', pay: 'buy',
    dismiss: 'close', cancel: 'close', later: 'close', thanks: 'close', find: 'search', email: 'email', mail: 'email',
    remove: 'delete', discard: 'delete', qty: 'quantity', amount: 'quantity', increase: 'more', decrease: 'less',
    signin: 'login', register: 'signup', subscribe: 'signup', shipping: 'delivery', postage: 'delivery',
  }));

  function canonicalWord(w) {
    const singular = w.length > 3 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w;
    return SYNONYMS.get(w) || SYNONYMS.get(singular) || singular;
  }

  function wordSet(s) {
    return new Set(stableText(s).toLowerCase().split(' ').filter((w) => w && !STOP_WORDS.has(w)).map(canonicalWord));
  }

  /** Text likeness: character bigrams (typos, plurals) or shared words (copy reworded around its key word), the better. */
  function textLikeness(a, b) {
    const x = wordSet(a); const y = wordSet(b);
    if (!x.size || !y.size) return textSimilarity(a, b);
    const dice = textSimilarity([...x].join(' '), [...y].join(' '));
    let common = 0;
    for (const w of x) if (y.has(w)) common++;
    const jaccard = common / (x.size + y.size - common);
    const containment = common / Math.min(x.size, y.size);
    return Math.max(dice, (jaccard + containment) / 2);
  }

  function setSimilarity(a, b) {
    const x = new Set(Array.isArray(a) ? a : collapse(a).split(' ').filter(Boolean));
    const y = new Set(Array.isArray(b) ? b : collapse(b).split(' ').filter(Boolean));
    if (!x.size && !y.size) return 1;
    let common = 0;
    for (const v of x) if (y.has(v)) common++;
    return common / (x.size + y.size - common);
  }

  /** Attribute values compared loosely: case and separators ignored (fullName = full_name). */
  function valueLikeness(a, b) {
    // Separators only matter between words: "-1" and "1" stay apart.
    const norm = (v) => (/\p{L}/u.test(v) ? String(v).toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '') : String(v));
    if (norm(a) === norm(b)) return 1;
    return 0.5 * textSimilarity(a, b);
  }

  /** The captured attributes (id and class aside) as found on the live element, averaged. */
  function attrsLikeness(captured, live) {
    const keys = Object.keys(captured || {}).filter((k) => k !== 'id' && k !== 'class');
    if (!keys.length) return null;
    let sum = 0;
    for (const k of keys) if (k in live) sum += valueLikeness(captured[k], live[k]);
    return sum / keys.length;
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

  const CLICKABLE_TAGS = new Set(['a', 'button', 'label', 'summary']);

  /** 1 for the same tag, less for another tag in the same role (a textarea become an input) or
   * another clickable (a button become a label around a radio), 0 for anything else. */
  function tagLikeness(fp, el) {
    if (el.localName === fp.tag) return 1;
    const role = roleOf(el) || '';
    if (fp.role && role === fp.role) return 0.8;
    const clickable = (tag, r) => CLICKABLE_TAGS.has(tag) || INTERACTIVE_ROLES.has(r);
    return clickable(fp.tag, fp.role) && clickable(el.localName, role) && !FORM_FIELD_TAGS.has(el.localName) ? 0.5 : 0;
  }

  /** Whether an attribute names this element (for a radio or checkbox, `name` is its group's). */
  function isIdentityAttr(fp, key) {
    if (key === 'name' && (fp.role === 'radio' || fp.role === 'checkbox')) return false;
    return IDENTITY_ATTRS.has(key) || (key.startsWith('data-') && key !== 'data-state');
  }

  /** The identifiers of the captured element (id, id prefix, naming attributes, option set,
   * data attribute names) and how many of them the live element shares exactly: [shared, total]. */
  function identityMatches(fp, now) {
    const a = fp.attrs || {};
    let shared = 0; let total = 0;
    const check = (present, equal) => { if (present) { total++; if (equal) shared++; } };
    check(!!a.id, a.id === now.attrs.id);
    check(!!fp.idPrefix && fp.idPrefix.length >= 3 && !a.id, fp.idPrefix === now.idPrefix);
    for (const k of Object.keys(a)) {
      if (isIdentityAttr(fp, k)) check(true, k in now.attrs && valueLikeness(a[k], now.attrs[k]) === 1);
    }
    check((fp.options || []).length >= 2, setSimilarity(fp.options || [], now.options) >= 0.6);
    check((fp.dataNames || []).length > 0, setSimilarity(fp.dataNames || [], now.dataNames) === 1);
    check((fp.childData || []).length > 0, setSimilarity(fp.childData || [], now.childData) === 1);
    return [shared, total];
  }

  /** Identifiers the live element shares exactly with the captured one (beyond its text). */
  function sharesIdentity(fp, now) {
    return identityMatches(fp, now)[0] > 0;
  }

  /** The text an element is known by: its accessible name, else its visible text. */
  function knownText(fp) {
    return stableText(fp.name) ? fp.name : fp.text || '';
  }

  /** Feature by feature likeness of a live element to a captured fingerprint (null: not comparable). */
  function likenessParts(fp, el) {
    const tag = tagLikeness(fp, el);
    if (!tag) return null;
    const now = fingerprint(el);
    const capturedText = knownText(fp);
    const has = (list) => Array.isArray(list) && list.length > 0;
    const numbers = (s) => collapse(s).split(' ').filter((w) => /^\d+([.,]\d+)?$/.test(w));
    const capturedNumbers = numbers(fp.text || fp.name);
    const [shared, identities] = identityMatches(fp, now);
    return {
      now,
      parts: {
        tag,
        identity: identities ? shared / identities : null,
        text: stableText(capturedText) ? textLikeness(capturedText, knownText(now)) : null,
        numbers: capturedNumbers.length ? setSimilarity(capturedNumbers, numbers(now.text || now.name)) : null,
        id: fp.attrs && fp.attrs.id ? Number(fp.attrs.id === now.attrs.id) : null,
        attrs: attrsLikeness(fp.attrs, now.attrs),
        options: has(fp.options) ? setSimilarity(fp.options, now.options) : null,
        idPrefix: fp.idPrefix ? (fp.idPrefix === now.idPrefix ? 1 : 0.5 * textSimilarity(fp.idPrefix, now.idPrefix)) : null,
        context: fp.context ? textLikeness(fp.context, now.context) : null,
        role: fp.role ? Number(fp.role === now.role) : null,
        classes: has(fp.classStems) || (fp.attrs && fp.attrs.class)
          ? setSimilarity([...(fp.classStems || []), ...collapse(fp.attrs && fp.attrs.class).split(' ').filter(Boolean)],
            [...now.classStems, ...collapse(now.attrs.class).split(' ').filter(Boolean)])
          : null,
        dataNames: has(fp.dataNames) ? setSimilarity(fp.dataNames, now.dataNames) : null,
        childData: has(fp.childData) ? setSimilarity(fp.childData, now.childData) : null,
        ancestors: ancestorsSimilarity(fp.ancestors || [], now.ancestors),
        siblings: fp.siblingText ? textSimilarity(fp.siblingText, now.siblingText) : null,
        position: positionSimilarity(fp.rect, now.rect),
      },
    };
  }

  /** Weighted likeness in [0, 1] of a live element to a captured fingerprint, feature by feature.
   * Gated (the default): an element whose text is unlike the captured one scores no more than
   * that text likeness unless an identifier ties them (reworded copy on another element). */
  function similarity(fp, el, gated = true) {
    const found = likenessParts(fp, el);
    if (!found) return 0;
    const { now, parts } = found;
    let sum = 0; let weight = 0;
    for (const [k, w] of Object.entries(FP_WEIGHTS)) {
      if (parts[k] === null || parts[k] === undefined) continue;
      sum += w * parts[k];
      weight += w;
    }
    const score = weight ? sum / weight : 0;
    // Reworded copy is only the same element when something that names it stayed.
    return gated && parts.text !== null && parts.text < TEXT_GATE && !sharesIdentity(fp, now) ? Math.min(score, parts.text) : score;
  }

  /** Why an element scores what it does against a fingerprint: the features and the total (for debugging). */
  function explain(fp, el) {
    const found = likenessParts(fp, el);
    if (!found) return { similarity: 0 };
    return { similarity: similarity(fp, el), identity: sharesIdentity(fp, found.now), ...found.parts };
  }

  function related(a, b) {
    return a.contains(b) || b.contains(a);
  }

  /**
   * The live element the look-alike recorded beside the target at capture (`decoy`) has
   * become: the one most like it, if that one is more like the look-alike than the target.
   * It is not the target, whatever its score.
   */
  function decoyOf(fp, pool) {
    if (!fp.decoy) return null;
    let best = null; let bestScore = RIVAL_MIN_SIMILARITY;
    for (const [, el] of pool) {
      const s = similarity(fp.decoy, el);
      if (s > bestScore) { best = el; bestScore = s; }
    }
    const entry = best && pool.find(([, el]) => el === best);
    return entry && bestScore >= entry[0] ? best : null;
  }

  /**
   * The live element most like the fingerprint, or null (a wrong element is worse than none):
   * null below the bar and when an unrelated runner-up comes too close (two look-alike
   * buttons); the recorded look-alike's successor is never picked.
   */
  function relocate(fp, root) {
    const hidden = makeHiddenCheck();
    const scored = [];
    for (const el of allElements(root)) {
      if (!tagLikeness(fp, el) || hidden(el)) continue;
      const s = similarity(fp, el);
      if (s >= RIVAL_MIN_SIMILARITY) scored.push([s, el]);
    }
    scored.sort((x, y) => y[0] - x[0]);
    const decoy = decoyOf(fp, scored);
    const ranked = scored.filter(([, el]) => el !== decoy);
    if (!ranked.length) return null;
    const [bestScore, best] = ranked[0];
    const rival = ranked.find(([, el]) => el !== best && !related(el, best));
    const margin = bestScore - (rival ? rival[0] : 0);
    const sure = bestScore >= RELOCATE_MIN_SIMILARITY && margin >= RELOCATE_MIN_MARGIN;
    const clearWinner = bestScore >= CLEAR_WINNER_MIN_SIMILARITY && margin >= CLEAR_WINNER_MIN_MARGIN;
    return sure || clearWinner ? best : null;
  }

  /** The element on the page, other than the target and its own ancestors and descendants,
   * that looks most like it: recorded so that relocation can tell the two apart later. */
  function lookAlike(target, fp) {
    const hidden = makeHiddenCheck();
    let best = null; let bestScore = DECOY_MIN_SIMILARITY;
    for (const el of allElements(target.getRootNode())) {
      if (el === target || related(el, target) || !tagLikeness(fp, el) || hidden(el)) continue;
      const s = similarity(fp, el);
      if (s > bestScore) { best = el; bestScore = s; }
    }
    return best ? fingerprint(best) : null;
  }

  // How far replay trusts a candidate's single match (see resolve).
  const SEMANTIC = 'semantic';
  const STRUCTURAL = 'structural';
  const POSITIONAL = 'positional';

  /** Semantic kinds name the element; a CSS or XPath over classes and attributes describes where it
   * sits; positions (nth-of-type, [k], nth=) only count. */
  function trustOf(c) {
    const positional = / >> nth=\d+$/.test(c.selector) || /:nth-(of-type|child)\(/.test(c.selector)
      || /\[\d+\]/.test(c.selector) || c.kind === 'nth';
    if (positional) return POSITIONAL;
    if (TRUSTED_KINDS.has(c.kind) && !/^role=[a-z-]+$/.test(c.selector)) return SEMANTIC;
    return STRUCTURAL;
  }

  /** Whether a candidate's single match resembles the captured element enough for its trust:
   * semantic kinds need little; structural ones as much as a relocation, whatever their copy
   * says now; positional ones the same with their copy judged too. Neither of the last two may
   * be more like the recorded look-alike than like the target. */
  function checksOut(fp, el, trust) {
    if (trust === SEMANTIC) return similarity(fp, el) >= TRUSTED_MATCH_MIN_SIMILARITY;
    const score = similarity(fp, el, trust === POSITIONAL);
    return score >= WEAK_MATCH_MIN_SIMILARITY && !(fp.decoy && similarity(fp.decoy, el, trust === POSITIONAL) > score);
  }

  /** The element replay would pick: the first unique candidate that checks out, else the fingerprint. */
  function resolve(record, root) {
    return pick(record, root).element;
  }

  /** resolve's answer and what gave it: `via` is the index of the candidate that picked the
   * element, "fingerprint" for relocation, or null when it abstains (element null). */
  function pick(record, root) {
    const scope = root || globalThis.document;
    const fp = record && record.fingerprint && record.fingerprint.tag ? record.fingerprint : null;
    const hidden = makeHiddenCheck();
    const candidates = (record && record.candidates) || [];
    for (let index = 0; index < candidates.length; index++) {
      const c = candidates[index];
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
      if (fp && !checksOut(fp, matches[0], trustOf(c))) continue;
      return { element: matches[0], via: index };
    }
    const relocated = fp ? relocate(fp, scope) : null;
    return { element: relocated, via: relocated ? 'fingerprint' : null };
  }

  // similarity(fingerprint, element) in [0, 1]: how replay judges correctness where there is no ground truth.
  globalThis.codesightSelectors = { generate, query, resolve, pick, similarity, explain, version: 1 };
})();
