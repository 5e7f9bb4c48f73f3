// privacy.js: field categories, personal patterns, echoes of what was typed, URL and selector masking.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { echoesOf, loadScripts, privacyModule } from './content_scripts.mjs';

const privacy = privacyModule();
const { maskText, maskUrl } = privacy;

// What the participant typed at checkout in the end-to-end PII test, too.
const TYPED = ['Ada Lovelace', 'ada.lovelace@example.com', '+44 20 7946 0958', '4242 4242 4242 4242', '12 Analytical Row, London N1 7AA'];

/** A small deterministic PRNG (mulberry32) so the generated cases are the same on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('patterns', () => {
  it('masks emails, phone numbers and Luhn-valid card numbers', () => {
    assert.equal(maskText('write to ann.lee+shop@mail.example.co.uk today'), 'write to ••• today');
    assert.equal(maskText('call +44 20 7946 0958, (555) 123-4567 or 020 7946 0958'), 'call •••, ••• or •••');
    assert.equal(maskText('card 4242 4242 4242 4242 / 4242-4242-4242-4242 / 4242424242424242.'), 'card ••• / ••• / •••.');
    assert.equal(maskText('amex 3782 822463 10005'), 'amex •••');
  });

  it('leaves prices, dates, quantities, order numbers and geometry alone', () => {
    for (const text of ['Total $1,299.00 (3 items)', 'Delivered 2026-11-26 at 14:05', 'Order FW-123456', 'id 1234567890123',
      'M10 10 20 20 30 30 40 40', 'viewBox 0 0 1440 900', 'v1.2.3.4', '4242 4242 4242 4241', '0.4242424242424242']) {
      assert.equal(maskText(text), text, text);
    }
  });

  it('checks card numbers with Luhn', () => {
    assert.equal(privacy.luhnValid('4242424242424242'), true);
    assert.equal(privacy.luhnValid('4242424242424241'), false);
    assert.equal(privacy.valueCategory('4111 1111 1111 1111'), 'payment');
    assert.equal(privacy.valueCategory('ann@example.com'), 'email');
    assert.equal(privacy.valueCategory('blue mug'), null);
  });
});

describe('echoes', () => {
  const echoes = echoesOf(privacy, TYPED);

  it('masks what was typed wherever the page shows it back', () => {
    assert.equal(maskText('Thank you, Ada!', echoes), 'Thank you, •••!');
    assert.equal(maskText('A receipt is on its way to ada.lovelace@example.com.', echoes), 'A receipt is on its way to •••.');
    assert.equal(maskText('Hi ada.lovelace, welcome back', echoes), 'Hi •••, welcome back');
    assert.equal(maskText('Paid with card ending 4242', echoes), 'Paid with card ending •••');
    assert.equal(maskText('Ships to 12 Analytical Row, London N1 7AA', echoes), 'Ships to 12 ••• •••, ••• N1 •••');
    assert.equal(maskText('LOVELACE, Ada', echoes), '•••, •••');
  });

  it('does not mask words that merely contain a typed token', () => {
    assert.equal(maskText('Adam reads Adaline and Lovelaces', echoes), 'Adam reads Adaline and Lovelaces');
  });

  it('never stores a typed value, only salted hashes', () => {
    const hashes = privacy.echoHashes('Ada Lovelace', 1);
    assert.ok(hashes.length >= 3);
    for (const h of hashes) assert.doesNotMatch(h, /ada|lovelace/i);
    assert.notDeepEqual(privacy.echoHashes('Ada Lovelace', 2), hashes, 'another salt, other hashes');
  });

  it('masks URLs in path, query and fragment, keeping scheme and host', () => {
    assert.equal(maskUrl('https://shop.test/v1/product.html?id=4', echoes), 'https://shop.test/v1/product.html?id=4');
    const masked = maskUrl('https://shop.test/thanks/ada?name=Ada%20Lovelace&email=x%40y.com&ref=mail#Ada', echoes);
    assert.ok(masked.startsWith('https://shop.test/thanks/'));
    assert.ok(!/ada|lovelace|x%40y|x@y/i.test(decodeURIComponent(masked)), masked);
    assert.match(masked, /ref=mail/);
  });

  it('drops selector candidates that spell out personal data and masks the fingerprint', () => {
    const record = {
      candidates: [
        { kind: 'text', selector: 'text="Thank you, Ada!"', score: 180 },
        { kind: 'css', selector: 'css=main > h1', score: 600 },
      ],
      fingerprint: { tag: 'h1', text: 'Thank you, Ada!', attrs: { title: 'mail ada.lovelace@example.com' }, rect: { x: 1, y: 2, w: 3, h: 4 } },
    };
    const masked = privacy.maskSelectorRecord(record, echoes);
    assert.deepEqual(masked.candidates.map((c) => c.kind), ['css']);
    assert.equal(masked.fingerprint.text, 'Thank you, •••!');
    assert.equal(masked.fingerprint.attrs.title, 'mail •••');
    assert.deepEqual(masked.fingerprint.rect, { x: 1, y: 2, w: 3, h: 4 });
  });

  it('keeps every candidate (masked) rather than none', () => {
    const record = { candidates: [{ kind: 'text', selector: 'text="Ada"', score: 1 }], fingerprint: {} };
    assert.deepEqual(privacy.maskSelectorRecord(record, echoes).candidates.map((c) => c.selector), ['text="•••"']);
  });

  it('hides generated personal data in generated page text (property)', () => {
    const random = rng(7);
    const pick = (list) => list[Math.floor(random() * list.length)];
    const first = ['Ada', 'Grace', 'Alan', 'Katherine', 'Edsger', 'Barbara'];
    const last = ['Lovelace', 'Hopper', 'Turing', 'Johnson', 'Dijkstra', 'Liskov'];
    const filler = ['Your order', 'is confirmed.', 'Thanks', 'for shopping', 'with us', '—', 'Total $42.00', 'Ref FW-123456', '(2 items)'];
    for (let run = 0; run < 300; run++) {
      const name = `${pick(first)} ${pick(last)}`;
      const email = `${name.split(' ')[0].toLowerCase()}.${Math.floor(random() * 1000)}@example.org`;
      const seeds = [name, email];
      const local = echoesOf(privacy, seeds, run);
      const shown = [name.split(' ')[0], email, name.split(' ')[1].toUpperCase(), name];
      const text = Array.from({ length: 12 }, () => (random() < 0.35 ? pick(shown) : pick(filler))).join(random() < 0.5 ? ' ' : ', ');
      const out = maskText(text, local);
      for (const part of [...name.split(' '), email]) assert.ok(!out.toLowerCase().includes(part.toLowerCase()), `${part} leaked in ${out}`);
      assert.ok(out.includes('•••') || !shown.some((s) => text.includes(s)));
    }
  });
});

describe('fieldCategory', () => {
  it('classifies by type, autocomplete token, name, label, placeholder and value shape', () => {
    const { document } = loadScripts(`<body>
      <input id="a" type="password"><input id="b" autocomplete="cc-number"><input id="c" name="cvv">
      <input id="d" autocomplete="shipping email"><input id="e" name="mobile"><input id="f" autocomplete="given-name">
      <label for="g">Street address</label><input id="g"><input id="h" placeholder="Postcode">
      <input id="i" name="birthdate"><input id="j" type="search"><input id="k" type="number"><select id="l"><option>S</option></select>
      <input id="m" name="note"><input id="n" name="gift">
      <div id="lab">Your phone</div><input id="o" aria-labelledby="lab"></body>`);
    const category = (id) => document.defaultView.codesightPrivacy.fieldCategory(document.getElementById(id));
    document.getElementById('n').value = 'me@example.com';
    assert.deepEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o'].map(category), [
      'password', 'payment', 'payment', 'email', 'phone', 'name', 'address', 'address',
      'personal', 'search', 'number', 'choice', 'text', 'email', 'phone',
    ]);
  });
});
