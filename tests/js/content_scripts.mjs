// Loads the extension's classic content scripts (privacy.js first, as manifest.json orders
// them) into a jsdom window, the way the browser evaluates them in every frame.
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const read = (name) => readFileSync(new URL(`../../extension/${name}`, import.meta.url), 'utf8');
export const SOURCES = Object.fromEntries(['privacy.js', 'page_capture.js', 'snapshot.js', 'modals.js'].map((n) => [n, read(n)]));

/** A jsdom page with `scripts` evaluated in order; every rect is zero (no layout). */
export function loadScripts(html, scripts = ['privacy.js'], { url = 'https://shop.test/checkout' } = {}) {
  const dom = new JSDOM(html, { runScripts: 'outside-only', url });
  for (const name of scripts) dom.window.eval(SOURCES[name]);
  return { window: dom.window, document: dom.window.document, privacy: dom.window.codesightPrivacy };
}

/** The privacy module alone, evaluated in node's own realm (pure string functions). */
export function privacyModule() {
  const sandbox = {};
  new Function('globalThis', SOURCES['privacy.js'])(sandbox);
  return sandbox.codesightPrivacy;
}

/** An echo set ({salt, hashes}) of what a participant typed, as content.js keeps it. */
export function echoesOf(privacy, values, salt = 12345) {
  return { salt, hashes: new Set(values.flatMap((v) => privacy.echoHashes(v, salt))) };
}
