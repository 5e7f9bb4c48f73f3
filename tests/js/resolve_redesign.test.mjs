// resolve() across a site redesign: the candidates break, the fingerprint relocates the element
// by what survives (an id prefix, autocomplete, a select's options, reworded copy) and abstains
// when the element is gone, even if the look-alike seen beside it at capture is still there.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPage } from './page.mjs';

const recordFor = (html, selector) => {
  const page = loadPage(html);
  return JSON.parse(JSON.stringify(page.selectors.generate(page.document.querySelector(selector))));
};

const fpOnly = (record) => ({ candidates: [], fingerprint: record.fingerprint });

const CHECKOUT_V1 = `<body><header><a href="/cart" class="Header_cart__x7Ab2">Cart 0</a></header>
<main><h1>Checkout</h1><form id="form-k3x9q1">
  <div class="Field_row__a8Xk2"><label for="name-hdirrq">Full name</label><input id="name-hdirrq" autocomplete="name"></div>
  <div class="Field_row__a8Xk2"><label for="subs-wuqhob">If an item is unavailable</label>
    <select id="subs-wuqhob"><option value="none">Don't substitute</option><option value="similar">Similar item</option><option value="call">Call me</option></select></div>
  <div><button type="button" data-consent="necessary">Only necessary</button><button type="button" data-consent="all">Accept all</button></div>
  <div class="Sizes"><button>1 TB + $200</button><button>2 TB + $500</button></div>
</form>
<dialog open><p>Added to cart</p><a href="/cart" class="Button_primary__Qw3rT">View cart</a></dialog></main></body>`;

// The redesign: new hashes and ids, reworded labels and buttons, a wrapper, the dialog gone.
const CHECKOUT_V2 = `<body><header><nav><a href="/cart" class="SiteHeader_bag__Zz9y8">Bag (0)</a></nav></header>
<main><h1>Secure checkout</h1><form id="checkout-b7y2z0"><section>
  <div class="Row__q1w2E"><label for="name-ksvnnp">Name for the driver</label><input id="name-ksvnnp" autocomplete="name"></div>
  <div class="Row__q1w2E"><label for="subs-ibcxez">Substitution preference</label>
    <select id="subs-ibcxez"><option value="none">No substitutes</option><option value="similar">Similar, same price</option><option value="call">Text me</option></select></div>
  <div><button type="button" data-choice="all">Allow all cookies</button><button type="button" data-choice="necessary">Necessary only</button></div>
  <div class="Storage"><button>1 TB +$200</button><button>2 TB +$500</button></div>
</section></form></main></body>`;

describe('resolve across a redesign', () => {
  it('keeps the readable prefix of a generated id and rejects random-letter suffixes', () => {
    const record = recordFor(CHECKOUT_V1, '#subs-wuqhob');
    assert.equal(record.fingerprint.idPrefix, 'subs-');
    assert.ok(!JSON.stringify(record.candidates).includes('wuqhob'), 'a random id leaked into a candidate');
    assert.deepEqual(record.fingerprint.options, ['none', 'similar', 'call']);
  });

  for (const [what, v1, v2] of [
    ['a field whose label was reworded, by autocomplete and id prefix', '#name-hdirrq', '#name-ksvnnp'],
    ['a select whose label was reworded, by its options', '#subs-wuqhob', '#subs-ibcxez'],
    ['a reworded consent button, by its words and their synonyms', '[data-consent=all]', '[data-choice=all]'],
    ['one of two buttons that differ only by a number', '.Sizes button:first-child', '.Storage button:first-child'],
  ]) {
    it(`relocates ${what}`, () => {
      const record = recordFor(CHECKOUT_V1, v1);
      const page = loadPage(CHECKOUT_V2);
      assert.equal(page.selectors.resolve(record), page.document.querySelector(v2));
      assert.equal(page.selectors.resolve(fpOnly(record)), page.document.querySelector(v2));
    });
  }

  it('records the look-alike beside the target and abstains when only the look-alike is left', () => {
    const record = recordFor(CHECKOUT_V1, 'dialog a');
    assert.equal(record.fingerprint.decoy?.text, 'Cart 0');
    const page = loadPage(CHECKOUT_V2);
    assert.equal(page.selectors.resolve(record), null, 'picked the header bag link for the removed "View cart"');
  });

  it('does not take a positional candidate that now lands on the look-alike', () => {
    const record = recordFor(CHECKOUT_V1, '[data-consent=all]');
    const page = loadPage(CHECKOUT_V1.replace('<button type="button" data-consent="all">Accept all</button>', ''));
    assert.equal(page.selectors.resolve(record), null);
  });
});
