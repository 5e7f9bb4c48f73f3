// Targets inside open shadow roots: query walks them, generate round-trips through them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertRoundTrip, loadPage } from './page.mjs';

function shadowPage() {
  const page = loadPage(`<body><main>
    <shop-item id="blue"></shop-item><shop-item id="red"></shop-item>
    <fancy-button>Checkout</fancy-button>
    <secret-box></secret-box></main></body>`);
  const { document } = page;
  for (const [id, title] of [['blue', 'Blue mug'], ['red', 'Red mug']]) {
    const root = document.getElementById(id).attachShadow({ mode: 'open' });
    root.innerHTML = `<div class="item"><h3>${title}</h3><button class="buy">Buy</button><mug-rating></mug-rating></div>`;
    root.querySelector('mug-rating').attachShadow({ mode: 'open' }).innerHTML = '<button class="star" aria-label="Rate 5 stars">*</button>';
  }
  document.querySelector('fancy-button').attachShadow({ mode: 'open' }).innerHTML = '<button part="inner"><slot></slot></button>';
  document.querySelector('secret-box').attachShadow({ mode: 'closed' }).innerHTML = '<button>Hidden away</button>';
  return page;
}

const shadowButton = (page, id, selector = 'button.buy') => page.document.getElementById(id).shadowRoot.querySelector(selector);

describe('shadow DOM', () => {
  it('queries inside open shadow roots, nested ones included', () => {
    const page = shadowPage();
    assert.equal(page.selectors.query('css=button.buy').length, 2);
    assert.equal(page.selectors.query('role=button[name="Buy"]').length, 2);
    assert.equal(page.selectors.query('text="Buy"').length, 2);
    assert.equal(page.selectors.query('xpath=//button[@class="buy"]').length, 2);
    const stars = page.selectors.query('role=button[name="Rate stars"]');
    assert.equal(stars.length, 2);
    assert.equal(stars[0], page.document.getElementById('blue').shadowRoot.querySelector('mug-rating').shadowRoot.firstElementChild);
  });

  it('never enters closed shadow roots', () => {
    const page = shadowPage();
    assert.equal(page.selectors.query('text="Hidden away"').length, 0);
  });

  it('round-trips buttons in shadow roots', () => {
    const page = shadowPage();
    const record = assertRoundTrip(page, shadowButton(page, 'red'));
    assert.ok(record.candidates.some((c) => c.kind === 'role' && c.selector.includes('>>')), 'scoped by its host');
    assertRoundTrip(page, shadowButton(page, 'blue'));
    const star = page.document.getElementById('red').shadowRoot.querySelector('mug-rating').shadowRoot.firstElementChild;
    assertRoundTrip(page, star);
  });

  it('names a shadow button by its slotted text', () => {
    const page = shadowPage();
    const inner = page.document.querySelector('fancy-button').shadowRoot.querySelector('button');
    const record = assertRoundTrip(page, inner);
    assert.ok(record.candidates.some((c) => c.selector === 'role=button[name="Checkout"]'), JSON.stringify(record.candidates));
  });
});
