// resolve(): the first unique candidate, else the fingerprint, else null.
// A wrong element is worse than none, so relocation abstains when unsure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPage } from './page.mjs';

const V1 = `<body><main id="products">
  <div class="card Card_root__a1B2c"><h2>Blue mug</h2><p class="price">$12.00</p>
    <button class="buy-button Btn_buy__x7Ab2" name="buy-blue">Add to cart</button>
    <button class="wish-button" name="wish-blue">Add to wishlist</button></div>
  <div class="card Card_root__a1B2c"><h2>Red mug</h2><p class="price">$14.00</p>
    <a href="/product/red">Details</a></div>
</main><footer><button>Subscribe</button></footer></body>`;

// The next site version: classes renamed, an extra wrapper, new attribute values, copy tweaked.
const V2 = `<body><main id="products"><section class="grid">
  <div class="tile Tile_root__Zz9y8"><h2>Blue mug</h2><p class="cost">$12.50</p>
    <button class="purchase Btn_buy__Q1w2E" name="cta-1">Add to my cart</button>
    <button class="wish-button" name="wish-blue">Add to wishlist</button></div>
  <div class="tile Tile_root__Zz9y8"><h2>Red mug</h2><p class="cost">$14.00</p>
    <a href="/product/red">Details</a></div>
</section></main><footer><button>Subscribe</button></footer></body>`;

const recordFor = (html, selector) => {
  const page = loadPage(html);
  return JSON.parse(JSON.stringify(page.selectors.generate(page.document.querySelector(selector))));
};

describe('resolve', () => {
  it('relocates by fingerprint when every candidate fails', () => {
    const record = recordFor(V1, '[name=buy-blue]');
    const v2 = loadPage(V2);
    for (const c of record.candidates) {
      const matches = v2.selectors.query(c);
      assert.ok(matches.length !== 1 || matches[0] !== v2.document.querySelector('[name=cta-1]') || c.kind === 'nth',
        `${c.selector} still works; the test would not exercise the fingerprint`);
    }
    assert.equal(v2.selectors.resolve(record), v2.document.querySelector('[name=cta-1]'));
    assert.equal(v2.selectors.resolve({ candidates: [], fingerprint: record.fingerprint }), v2.document.querySelector('[name=cta-1]'));
  });

  it('abstains when the element is gone', () => {
    const record = recordFor(V1, 'footer button');
    const page = loadPage(V1);
    page.document.querySelector('footer button').remove();
    assert.equal(page.selectors.resolve(record), null);
  });

  it('abstains rather than pick a look-alike neighbour', () => {
    const record = recordFor(V1, '[name=wish-blue]');
    const page = loadPage(V1);
    page.document.querySelector('[name=wish-blue]').remove();
    assert.equal(page.selectors.resolve(record), null, 'picked "Add to cart" for a removed "Add to wishlist"');
  });

  it('rejects a positional candidate that now points at another element', () => {
    const record = recordFor(V1, '[name=buy-blue]');
    const page = loadPage(V1);
    const old = page.document.querySelector('[name=buy-blue]');
    const other = page.document.createElement('button');
    other.textContent = 'Compare';
    old.replaceWith(other);
    assert.ok(page.selectors.query(record.candidates.at(-1)).includes(other), 'the nth candidate now matches "Compare"');
    assert.equal(page.selectors.resolve(record), null);
  });

  it('skips candidates marked not unique and ones it cannot parse', () => {
    const page = loadPage(V1);
    const target = page.document.querySelector('[name=wish-blue]');
    const record = {
      candidates: [
        { kind: 'css', selector: 'css=button', score: 1, unique: false },
        { kind: 'text', selector: 'text=unquoted', score: 2, unique: true },
        { kind: 'attr', selector: 'css=button[name="wish-blue"]', score: 3, unique: true },
      ],
      fingerprint: page.selectors.generate(target).fingerprint,
    };
    assert.equal(page.selectors.resolve(record), target);
  });

  it('returns null for a record with neither a working candidate nor a fingerprint', () => {
    const page = loadPage(V1);
    assert.equal(page.selectors.resolve({ candidates: [{ kind: 'css', selector: 'css=#nope', score: 1 }] }), null);
  });
});
