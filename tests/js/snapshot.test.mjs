// snapshot.js: the DOM snapshot replay loads as its "stored snapshot" condition, with every value masked.
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { echoesOf, loadScripts } from './content_scripts.mjs';

function load(html) {
  const page = loadScripts(html, ['privacy.js', 'snapshot.js']);
  // The browser has these in content scripts; jsdom does not, node does.
  Object.assign(page.window, { CompressionStream, Blob, Response });
  return { ...page, snapshot: page.window.codesightSnapshot };
}

const CHECKOUT = `<!doctype html><html><head><title>Checkout</title><script>window.secret = 1</script>
<style>.a > b { color: red }</style></head><body>
<h1 onclick="track()">Thank you, Ada!</h1>
<form>
  <input id="name" name="fullName" autocomplete="name" value="prefilled" placeholder="Ada Example">
  <input id="email" type="email" placeholder="you@example.com">
  <input id="pw" type="password" value="hunter2"><input id="csrf" type="hidden" value="tok_abc123">
  <input id="q" type="search"><input id="agree" type="checkbox">
  <select id="size"><option>S</option><option>M</option></select>
  <select id="country" autocomplete="country"><option>Norway</option><option>Peru</option></select>
  <textarea id="addr" name="address">old text</textarea>
  <input type="submit" value="Place order">
</form>
<svg viewBox="0 0 24 24"><path d="M10 10 20 20 30 30 40 40 50 50"></path></svg>
<a href="javascript:alert(1)" data-user="ada.lovelace@example.com">me</a>
<shop-picker></shop-picker>
</body></html>`;

function fill(document) {
  const set = (id, value) => { document.getElementById(id).value = value; };
  set('name', 'Ada Lovelace');
  set('email', 'ada.lovelace@example.com');
  set('pw', 'correct horse');
  set('q', 'blue mug');
  set('addr', '12 Analytical Row');
  document.getElementById('agree').checked = true;
  document.getElementById('size').value = 'M';
  document.getElementById('country').value = 'Peru';
  const host = document.querySelector('shop-picker');
  host.attachShadow({ mode: 'open' }).innerHTML = '<label>Gift note <input id="note" name="giftNote"></label>';
  host.shadowRoot.getElementById('note').value = 'for Ada';
}

describe('serialize', () => {
  const { window, document, snapshot, privacy } = load(CHECKOUT);
  fill(document);
  const echoes = echoesOf(privacy, ['Ada Lovelace', 'ada.lovelace@example.com', '12 Analytical Row']);
  const { html, nodes, truncated } = snapshot.serialize(document, { echoes });

  it('contains nothing that was typed, nor echoes of it', () => {
    for (const secret of ['Ada', 'Lovelace', 'ada.lovelace', 'hunter2', 'correct horse', 'tok_abc123', 'Analytical', 'old text', 'prefilled', 'Peru"']) {
      assert.ok(!html.includes(secret), `${secret} leaked`);
    }
    assert.ok(nodes > 20);
    assert.equal(truncated, false);
  });

  it('keeps form state as masks by category, choices and checks', () => {
    assert.match(html, /<input id="name" name="fullName" autocomplete="name" placeholder="•••" value="\[name\]">/);
    assert.match(html, /<input id="email" type="email" placeholder="•••" value="\[email\]">/);
    assert.match(html, /<input id="pw" type="password">/);
    assert.match(html, /<input id="csrf" type="hidden">/);
    assert.match(html, /<input id="q" type="search" value="blue mug">/);
    assert.match(html, /<input id="agree" type="checkbox" checked="">/);
    assert.match(html, /<option selected="">M<\/option>/);
    assert.match(html, /<select id="country" autocomplete="country"><option>Norway<\/option><option>Peru<\/option><\/select>/);
    assert.match(html, /<textarea id="addr" name="address">\[address\]<\/textarea>/);
    assert.match(html, /<input type="submit" value="Place order">/);
  });

  it('drops scripts and handlers, keeps styles, geometry and open shadow roots', () => {
    assert.ok(!html.includes('window.secret') && !html.includes('onclick') && !html.includes('javascript:'));
    assert.match(html, /<style>\.a > b \{ color: red \}<\/style>/);
    assert.match(html, /d="M10 10 20 20 30 30 40 40 50 50"/);
    assert.match(html, /<shop-picker><template shadowrootmode="open"><label>Gift note <input id="note" name="giftNote" value="\[text\]"><\/label><\/template><\/shop-picker>/);
    assert.match(html, /<h1>Thank you, •••!<\/h1>/);
    assert.match(html, /data-user="•••"/);
    assert.match(html, /<head><base href="https:\/\/shop.test\/checkout">/);
  });

  it('cuts a snapshot that grows beyond its budget and says so', () => {
    const cut = snapshot.serialize(document, { echoes, maxChars: 300 });
    assert.equal(cut.truncated, true);
    assert.ok(cut.html.length <= 300);
  });

  it('gzips to a data URL that inflates back to the same HTML', async () => {
    const { data, size_bytes: size } = await snapshot.gzipBase64(html);
    assert.match(data, /^data:application\/gzip;base64,/);
    const bytes = Buffer.from(data.split(',')[1], 'base64');
    assert.equal(bytes.length, size);
    assert.equal(gunzipSync(bytes).toString('utf8'), html);
    assert.ok(size < html.length);
    assert.ok(window);
  });
});
