// page_capture.js: page structure, field summaries and value masking (nothing typed leaves the browser).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { plain } from './page.mjs';

const source = readFileSync(new URL('../../extension/page_capture.js', import.meta.url), 'utf8');

function load(html) {
  const dom = new JSDOM(html, { runScripts: 'outside-only' });
  dom.window.eval(source);
  return { document: dom.window.document, capture: dom.window.codesightCapture };
}

const FORM = `<body><form>
  <input id="email" type="email" name="email"><input id="q" type="search" name="q">
  <input id="pw" type="password" name="pw"><input id="token" type="hidden" name="csrf" value="abc">
  <input id="card" name="cardnumber" inputmode="numeric"><input id="full" autocomplete="name">
  <input id="ok" type="checkbox" checked><input id="r" type="radio">
  <select id="size"><option>S</option><option selected>M</option></select>
  <select id="country" autocomplete="country"><option selected>Norway</option></select>
  <textarea id="note"></textarea><input id="file" type="file">
</form></body>`;

describe('maskedValue', () => {
  it('masks every typed value and sends choices', () => {
    const { document, capture } = load(FORM);
    const type = (id, value) => { document.getElementById(id).value = value; };
    for (const [id, value] of [['email', 'ann@example.com'], ['q', 'blue mug'], ['pw', 'hunter2'], ['card', '4111111111111111'], ['full', 'Ann Lee'], ['note', 'ring twice']]) type(id, value);
    const masked = Object.fromEntries([...document.querySelectorAll('input, select, textarea')].map((el) => [el.id, capture.maskedValue(el)]));
    assert.deepEqual(plain(masked), {
      email: '•••', q: '•••', pw: '', token: '', card: '•••', full: '•••', ok: 'checked', r: 'unchecked',
      size: 'M', country: '•••', note: '•••', file: '',
    });
    assert.ok(!JSON.stringify(masked).match(/ann|hunter|4111|blue|ring|abc/i));
  });

  it('sends an empty value for a cleared field', () => {
    const { document, capture } = load(FORM);
    assert.equal(capture.maskedValue(document.getElementById('q')), '');
  });

  it('recognizes sensitive fields by type, autocomplete and name', () => {
    const { document, capture } = load(FORM);
    const sensitive = ['email', 'pw', 'card', 'full', 'country'].map((id) => capture.isSensitiveField(document.getElementById(id)));
    assert.deepEqual(sensitive, [true, true, true, true, true]);
    assert.equal(capture.isSensitiveField(document.getElementById('q')), false);
    assert.equal(capture.isSensitiveField(document.getElementById('size')), false);
  });
});

describe('fieldSummary', () => {
  it('describes the field, never its value', () => {
    const { document, capture } = load(FORM);
    document.getElementById('email').value = 'ann@example.com';
    assert.deepEqual(plain(capture.fieldSummary(document.getElementById('email'), ' Email\n address ')),
      { tag: 'input', type: 'email', name: 'email', autocomplete: null, label: 'Email address' });
    assert.deepEqual(plain(capture.fieldSummary(document.getElementById('size'), '')),
      { tag: 'select', type: 'select-one', name: null, autocomplete: null, label: null });
  });
});

describe('pageStructure', () => {
  it('lists headings, landmarks, counts and an outline', () => {
    const { document, capture } = load(`<body>
      <header><nav aria-label="Main"><a href="/">Home</a><a href="/cart">Cart</a></nav></header>
      <main><h1>Mugs</h1><section aria-label="Products"><h2>Blue  mug</h2><button>Add</button>
        <div role="button">More</div><h2 hidden>Secret</h2></section>
        <form role="search"><input name="q"><input type="hidden" name="t"><input type="submit"></form></main>
      <footer>Bye</footer></body>`);
    const structure = plain(capture.pageStructure(document));
    assert.deepEqual(structure.headings, ['Mugs', 'Blue mug']);
    assert.deepEqual(structure.landmarks, ['banner', 'navigation: Main', 'main', 'contentinfo', 'search', 'region: Products']);
    assert.deepEqual(structure.counts, { links: 2, buttons: 3, inputs: 1, forms: 1 });
    assert.equal(structure.outline, 'h1 Mugs\n  h2 Blue mug');
  });
});
