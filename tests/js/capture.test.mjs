// page_capture.js: page structure, field summaries and value masking (nothing typed leaves the browser).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadScripts } from './content_scripts.mjs';
import { plain } from './page.mjs';

function load(html) {
  const page = loadScripts(html, ['privacy.js', 'page_capture.js']);
  return { ...page, capture: page.window.codesightCapture };
}

const FORM = `<body><form>
  <input id="email" type="email" name="email"><input id="q" type="search" name="q">
  <input id="pw" type="password" name="pw"><input id="token" type="hidden" name="csrf" value="abc">
  <input id="card" name="cardnumber" inputmode="numeric"><input id="full" autocomplete="name">
  <input id="ok" type="checkbox" checked><input id="r" type="radio">
  <select id="size"><option>S</option><option selected>M</option></select>
  <select id="country" autocomplete="country"><option selected>Norway</option></select>
  <textarea id="note"></textarea><input id="file" type="file">
  <label>Address <textarea id="addr" placeholder="Street, city, postcode"></textarea></label>
  <input id="qty" type="number" name="qty"><input id="plain" name="gift-message">
</form></body>`;

describe('maskedValue', () => {
  it('masks every typed value by category, sends choices and clean queries, never payment or passwords', () => {
    const { document, capture } = load(FORM);
    const type = (id, value) => { document.getElementById(id).value = value; };
    for (const [id, value] of [['email', 'ann@example.com'], ['q', 'blue mug'], ['pw', 'hunter2'], ['card', '4111111111111111'],
      ['full', 'Ann Lee'], ['note', 'ring twice'], ['addr', '1 Elm St'], ['qty', '2'], ['plain', 'call me on 020 7946 0958']]) type(id, value);
    const masked = Object.fromEntries([...document.querySelectorAll('input, select, textarea')].map((el) => [el.id, capture.maskedValue(el)]));
    assert.deepEqual(plain(masked), {
      email: '[email]', q: 'blue mug', pw: '', token: '', card: '', full: '[name]', ok: 'checked', r: 'unchecked',
      size: 'M', country: '[address]', note: '[text]', file: '', addr: '[address]', qty: '2', plain: '[phone]',
    });
    assert.ok(!JSON.stringify(masked).match(/ann|hunter|4111|ring|abc|elm|7946/i));
  });

  it('sends an empty value for a cleared field', () => {
    const { document, capture } = load(FORM);
    assert.equal(capture.maskedValue(document.getElementById('q')), '');
  });

  it('masks a search query that carries personal data or long numbers', () => {
    const { document, capture } = load(FORM);
    const q = document.getElementById('q');
    q.value = 'ann@example.com';
    assert.equal(capture.maskedValue(q), '[email]');
    q.value = 'order 123456789';
    assert.equal(capture.maskedValue(q), '[text]');
  });

  it('recognizes sensitive fields by type, autocomplete, name and label', () => {
    const { document, capture } = load(FORM);
    const sensitive = ['email', 'pw', 'card', 'full', 'country', 'addr'].map((id) => capture.isSensitiveField(document.getElementById(id)));
    assert.deepEqual(sensitive, [true, true, true, true, true, true]);
    for (const id of ['q', 'size', 'qty']) assert.equal(capture.isSensitiveField(document.getElementById(id)), false, id);
  });
});

describe('fieldSummary', () => {
  it('describes the field and its category, never its value', () => {
    const { document, capture } = load(FORM);
    document.getElementById('email').value = 'ann@example.com';
    assert.deepEqual(plain(capture.fieldSummary(document.getElementById('email'), ' Email\n address ')),
      { tag: 'input', type: 'email', name: 'email', autocomplete: null, label: 'Email address', category: 'email', sensitive: true, required: false });
    assert.deepEqual(plain(capture.fieldSummary(document.getElementById('size'), '')),
      { tag: 'select', type: 'select-one', name: null, autocomplete: null, label: null, category: 'choice', sensitive: false, required: false });
  });
});

describe('pageStructure', () => {
  it('lists headings, landmarks, counts, forms, products and a compact outline', () => {
    const { document, capture } = load(`<body>
      <header><nav aria-label="Main"><a href="/">Home</a><a href="/cart">Cart</a></nav></header>
      <main><h1>Mugs</h1><section aria-label="Products"><article><h2>Blue  mug</h2><span>$12.00</span><button>Add</button></article>
        <div role="button">More</div><h2 hidden>Secret</h2></section>
        <form role="search" aria-label="Search"><input name="q"><input type="hidden" name="t"><input type="submit" value="Go"></form></main>
      <footer>Bye</footer></body>`);
    const structure = plain(capture.pageStructure(document));
    assert.deepEqual(structure.headings, ['Mugs', 'Blue mug']);
    assert.deepEqual(structure.landmarks, ['banner', 'navigation: Main', 'main', 'contentinfo', 'search: Search', 'form: Search', 'region: Products']);
    assert.deepEqual(structure.counts, { links: 2, buttons: 3, inputs: 1, forms: 1, interactive: 6, images: 0, iframes: 0, dialogs: 0, prices: 1 });
    assert.deepEqual(structure.products, [{ name: 'Blue mug', price: '$12.00' }]);
    assert.deepEqual(structure.forms, [{
      id: null, name: 'Search', action: null, method: 'get', submit: 'Go',
      fields: [{ tag: 'input', type: 'text', name: 'q', autocomplete: null, label: null, category: 'search', sensitive: false, required: false }],
    }]);
    assert.equal(structure.outline, [
      '[banner]',
      '  [navigation "Main"]',
      '    links: Home · Cart',
      '[main]',
      '  h1 Mugs',
      '  [region "Products"]',
      '    h2 Blue mug — $12.00',
      '  form "Search": q (search) → Go',
      '[contentinfo]',
    ].join('\n'));
  });

  it('describes a checkout form by field categories without reading what was typed', () => {
    const { document, capture } = load(`<body><form id="checkout"><label>Full name <input name="fullName" autocomplete="name"></label>
      <label>Email <input type="email"></label><label>Card <input autocomplete="cc-number"></label><button>Place order</button></form></body>`);
    for (const input of document.querySelectorAll('input')) input.value = 'Ada Lovelace ada@example.com';
    const structure = capture.pageStructure(document);
    assert.deepEqual(plain(structure.forms[0].fields.map((f) => [f.label, f.category])), [['Full name', 'name'], ['Email', 'email'], ['Card', 'payment']]);
    assert.ok(!JSON.stringify(structure).includes('Ada'));
  });
});
