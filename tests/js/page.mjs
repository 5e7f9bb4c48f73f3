// Loads extension/generator.js into a jsdom window, as the extension and replay inject it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

export const generatorSource = readFileSync(new URL('../../extension/generator.js', import.meta.url), 'utf8');

/** A jsdom page with the generator evaluated in it (no layout: every rect is zero). */
export function loadPage(html) {
  const dom = new JSDOM(html, { runScripts: 'outside-only' });
  dom.window.eval(generatorSource);
  return { window: dom.window, document: dom.window.document, selectors: dom.window.codesightSelectors };
}

/** Round trip: every unique candidate finds `expected` and only it, and resolve picks it. */
export function assertRoundTrip(page, clicked, expected = clicked) {
  const { selectors } = page;
  const record = JSON.parse(JSON.stringify(selectors.generate(clicked)));
  assert.ok(record.candidates.length > 0, 'no candidates');
  for (const candidate of record.candidates) {
    if (!candidate.unique) continue;
    const matches = selectors.query(candidate);
    assert.equal(matches.length, 1, `${candidate.selector} matched ${matches.length} elements`);
    assert.equal(matches[0], expected, `${candidate.selector} matched another element`);
  }
  assert.equal(selectors.resolve(record), expected, 'resolve picked another element');
  return record;
}

/** A value from the page's realm as plain data (deepEqual compares prototypes). */
export const plain = (value) => JSON.parse(JSON.stringify(value));

export const kinds = (record) => new Set(record.candidates.map((c) => c.kind));
