// The selector generator tested by round trip, as Playwright tests its own:
// generate for an element, then check every unique candidate finds it and only it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertRoundTrip, kinds, loadPage, plain } from './page.mjs';
import { SHOP_HTML } from './shop.mjs';

const CLICKABLE = 'a, button, input, select, textarea, label, [role=button], [onclick]';

describe('generate on a shop page', () => {
  it('round-trips every clickable element', () => {
    const page = loadPage(SHOP_HTML);
    const elements = [...page.document.querySelectorAll(CLICKABLE)];
    assert.ok(elements.length >= 15);
    for (const el of elements) assertRoundTrip(page, el);
  });

  it('ranks candidates best first with at least four kinds for a button and a link', () => {
    const page = loadPage(SHOP_HTML);
    for (const el of [page.document.querySelector('[data-testid=subscribe]'), page.document.querySelector('a.nav-link')]) {
      const record = page.selectors.generate(el);
      const scores = plain(record.candidates.map((c) => c.score));
      assert.deepEqual(scores, [...scores].sort((a, b) => a - b));
      assert.ok(kinds(record).size >= 4, [...kinds(record)].join(','));
      assert.equal(record.candidates.at(-1).kind, 'nth');
    }
  });

  it('puts a test id first', () => {
    const page = loadPage(SHOP_HTML);
    const record = page.selectors.generate(page.document.querySelector('[data-testid=subscribe]'));
    assert.deepEqual(plain(record.candidates[0]), { kind: 'testid', selector: 'testid="subscribe"', score: 1, unique: true });
  });

  it('offers role, label and placeholder for form fields', () => {
    const page = loadPage(SHOP_HTML);
    const record = assertRoundTrip(page, page.document.getElementById('email'));
    const selectors = record.candidates.map((c) => c.selector);
    for (const s of ['role=textbox[name="Email"]', 'label="Email"', 'placeholder="you@example.com"', 'css=#email', 'css=input[name="email"]']) {
      assert.ok(selectors.includes(s), `${s} missing from ${selectors.join(' | ')}`);
    }
    const checkbox = assertRoundTrip(page, page.document.querySelector('[name=terms]'));
    assert.ok(checkbox.candidates.some((c) => c.selector === 'label="I accept the terms"'));
  });

  it('uses alt and title', () => {
    const page = loadPage(SHOP_HTML);
    const img = assertRoundTrip(page, page.document.querySelector('img[alt="Red mug"]'));
    assert.ok(img.candidates.some((c) => c.kind === 'alt' && c.selector === 'alt="Red mug"'));
    const help = assertRoundTrip(page, page.document.querySelector('a[href="/help"]'));
    assert.ok(help.candidates.some((c) => c.kind === 'title' && c.selector === 'title="Help center"'));
  });

  it('scopes look-alike buttons by their product card instead of position', () => {
    const page = loadPage(SHOP_HTML);
    const second = page.document.querySelectorAll('article button')[1];
    const record = assertRoundTrip(page, second);
    assert.equal(record.candidates[0].selector, 'css=article.product-card >> has-text="Red mug" >> role=button[name="Add to cart"]');
  });
});

describe('stability filters', () => {
  it('rejects generated ids and hashed classes', () => {
    const page = loadPage(SHOP_HTML);
    const text = JSON.stringify([...page.document.querySelectorAll('article button, a, main, h2')].map((el) => page.selectors.generate(el)));
    for (const unstable of [':r1:', 'btn-83829412', 'Button_primary__x7Ab2', 'ProductCard_root__a1B2c', 'Header_cart__3xK9q', 'css-1q2w3e', 'sc-bdfBwQ', 'kYjGtw']) {
      assert.ok(!text.includes(unstable), `${unstable} leaked into a record`);
    }
    assert.ok(text.includes('btn-primary') && text.includes('product-card'));
  });

  it('rejects uuids, long digit runs and framework ids but keeps readable ids', () => {
    const ids = ['a1b2c3d4-e5f6-4a5b-8c9d-0123456789ab', 'item-20240517', 'ember1234', 'radix-:r3:', 'x9f3a2b1c', 'email-kqxzvb', 'link-4-aaoa42', 'checkout', 'step-2', 'main-nav'];
    const page = loadPage(`<body>${ids.map((id) => `<button id="${id}">Go ${id}</button>`).join('')}</body>`);
    const idSelectors = ids.map((id) => page.selectors.generate(page.document.getElementById(id)).candidates.filter((c) => c.kind === 'id').map((c) => c.selector));
    assert.deepEqual(plain(idSelectors), [[], [], [], [], [], [], [], ['css=#checkout'], ['css=#step-2'], ['css=#main-nav']]);
  });

  it('tells CSS-module hashes from BEM elements', () => {
    const page = loadPage('<body><a class="Nav_link__abCde card__title" href="/a">A</a><a class="Nav_link__qwert" href="/b">B</a></body>');
    const text = JSON.stringify([...page.document.querySelectorAll('a')].map((el) => page.selectors.generate(el)));
    assert.ok(!text.includes('Nav_link__abCde'));
    assert.ok(text.includes('card__title'));
  });

  it('never relies on "the only button" or a lone tag', () => {
    const page = loadPage('<body><form><input name="q"><button>Go</button></form></body>');
    const record = assertRoundTrip(page, page.document.querySelector('button'));
    const selectors = record.candidates.map((c) => c.selector);
    assert.ok(!selectors.includes('role=button') && !selectors.includes('css=button'), selectors.join(' | '));
  });

  it('strips prices and counts from text', () => {
    const page = loadPage(SHOP_HTML);
    const cart = page.selectors.generate(page.document.getElementById('cart-link'));
    const selectors = cart.candidates.map((c) => c.selector);
    assert.ok(selectors.includes('role=link[name="Cart"]'), selectors.join(' | '));
    assert.ok(selectors.includes('text="Cart"'));
    const button = page.selectors.generate(page.document.querySelector('article button'));
    const [best, second] = button.candidates;
    assert.equal(best.selector, 'css=article.product-card >> has-text="Blue mug" >> role=button[name="Add to cart"]');
    assert.equal(second.selector, 'css=article.product-card >> has-text="Blue mug" >> text="Add to cart"');
    const strict = button.candidates.find((c) => c.selector === 'role=button[name="Add to cart – $12.00"s]');
    assert.ok(strict && strict.score > second.score, 'digits kept only in a strict, lower-ranked form');
  });

  it('still finds a button after its price changed', () => {
    const page = loadPage(SHOP_HTML);
    const record = page.selectors.generate(page.document.getElementById('cart-link'));
    page.document.getElementById('cart-link').lastChild.data = ' Cart (12)';
    assert.equal(page.selectors.resolve(record), page.document.getElementById('cart-link'));
  });
});

describe('retargeting', () => {
  it('turns a click on an inner span or icon into its button or link', () => {
    const page = loadPage(SHOP_HTML);
    const button = page.document.querySelector('article button');
    for (const inner of [button.querySelector('span'), button.querySelector('i'), button.querySelector('span').firstChild]) {
      const record = assertRoundTrip(page, inner, button);
      assert.equal(record.fingerprint.tag, 'button');
    }
    assertRoundTrip(page, page.document.querySelector('#cart-link path'), page.document.getElementById('cart-link'));
    assertRoundTrip(page, page.document.querySelector('.promo b'), page.document.querySelector('.promo'));
  });

  it('keeps a non-interactive element when nothing above it is interactive', () => {
    const page = loadPage(SHOP_HTML);
    const price = page.document.querySelector('.price');
    assert.equal(assertRoundTrip(page, price).fingerprint.tag, 'span');
  });
});

describe('ground truth', () => {
  it('never reads data-lab attributes', () => {
    const page = loadPage(SHOP_HTML);
    const { window } = page;
    const marked = [...page.document.querySelectorAll('[data-lab-id], [data-lab-id] *')];
    assert.ok(marked.length > 5);
    const forbidden = (name) => String(name).toLowerCase().startsWith('data-lab');
    for (const method of ['getAttribute', 'hasAttribute', 'getAttributeNode']) {
      const original = window.Element.prototype[method];
      window.Element.prototype[method] = function (name) {
        if (forbidden(name)) throw new Error(`read ${name}`);
        return original.call(this, name);
      };
    }
    const value = Object.getOwnPropertyDescriptor(window.Attr.prototype, 'value');
    Object.defineProperty(window.Attr.prototype, 'value', {
      get() { if (forbidden(this.name)) throw new Error(`read ${this.name}`); return value.get.call(this); },
    });
    for (const el of marked) {
      const record = page.selectors.generate(el);
      assert.ok(!JSON.stringify(record).includes('data-lab'));
      page.selectors.resolve(record);
    }
  });
});

describe('query', () => {
  it('throws a clear error for a malformed selector', () => {
    const page = loadPage(SHOP_HTML);
    assert.throws(() => page.selectors.query('text=Add'), /expected a quoted value/);
    assert.throws(() => page.selectors.query({ kind: 'css' }), /no selector/);
  });

  it('chains, picks the k-th match and matches strict text', () => {
    const page = loadPage(SHOP_HTML);
    const buttons = page.document.querySelectorAll('article button');
    assert.deepEqual([...page.selectors.query('role=button[name="add to cart"]')], [...buttons]);
    assert.deepEqual([...page.selectors.query('role=button[name="Add to cart"] >> nth=1')], [buttons[1]]);
    assert.deepEqual([...page.selectors.query('text="Add to cart – $14.50"s')], [buttons[1]]);
    assert.deepEqual([...page.selectors.query('css=#products >> has-text="Blue mug" >> css=button')], [...buttons]);
    assert.deepEqual([...page.selectors.query('css=article >> has-text="Blue mug" >> css=button')], [buttons[0]]);
  });

  it('skips hidden elements for semantic engines', () => {
    const page = loadPage('<body><button hidden>Buy</button><div style="display:none"><button>Buy</button></div><button>Buy</button></body>');
    assert.equal(page.selectors.query('role=button[name="Buy"]').length, 1);
    assert.equal(page.selectors.query('text="Buy"').length, 1);
    assert.equal(page.selectors.query('css=button').length, 3);
  });
});
