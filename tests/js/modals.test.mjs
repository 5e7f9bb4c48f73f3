// modals.js: which elements are modals (dialogs, ARIA dialogs, overlays, cookie banners), their
// summaries, and the MutationObserver-driven detector's open / close reports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { echoesOf, loadScripts } from './content_scripts.mjs';
import { plain } from './page.mjs';

const VIEW = { w: 1280, h: 800 };
const STYLE = { display: 'block', visibility: 'visible', opacity: '1', position: 'static', zIndex: 'auto' };
const FIXED = { ...STYLE, position: 'fixed', zIndex: '1000' };
const box = (width, height) => ({ width, height });

function load(html) {
  const page = loadScripts(html, ['privacy.js', 'modals.js']);
  return { ...page, modals: page.window.codesightModals };
}

describe('modalKind', () => {
  const { document, modals } = load(`<body>
    <dialog id="native" open><h2>Added to cart</h2><button>View cart</button></dialog>
    <dialog id="closed"><p>Nope</p></dialog>
    <div id="aria" role="dialog" aria-label="Sign in"><input type="email"><button>Continue</button></div>
    <div id="cookie" class="Consent_bar__x1"><p>We use cookies to keep your cart.</p><button>Accept all</button></div>
    <div id="backdrop"><p>Subscribe for 10% off</p></div>
    <header id="sticky">Logo</header>
    <div id="toast">Saved</div></body>`);
  const kind = (id, style = STYLE, rect = box(400, 300)) => modals.modalKind(document.getElementById(id), style, rect, VIEW);

  it('recognizes open dialogs and ARIA dialogs, not closed ones', () => {
    assert.equal(kind('native'), 'dialog');
    assert.equal(kind('closed'), null);
    assert.equal(kind('aria'), 'aria');
  });

  it('recognizes cookie banners by text, a fixed bar across the page', () => {
    assert.equal(kind('cookie', { ...FIXED, zIndex: '50' }, box(1248, 90)), 'cookie');
    assert.equal(kind('cookie', STYLE, box(1248, 90)), null, 'not fixed: part of the page');
  });

  it('counts fixed overlays stacked high over much of the viewport, not sticky headers or toasts', () => {
    assert.equal(kind('backdrop', FIXED, box(1280, 800)), 'overlay');
    assert.equal(kind('backdrop', { ...FIXED, zIndex: '1' }, box(1280, 800)), null);
    assert.equal(kind('sticky', FIXED, box(1280, 800)), null);
    assert.equal(kind('toast', FIXED, box(200, 60)), null);
  });

  it('ignores hidden and empty boxes', () => {
    assert.equal(kind('aria', { ...STYLE, display: 'none' }), null);
    assert.equal(kind('aria', { ...STYLE, opacity: '0' }), null);
    assert.equal(kind('aria', STYLE, box(0, 0)), null);
  });
});

describe('summarize', () => {
  it('names the title, text and buttons, masked for what was typed', () => {
    const { document, modals, privacy } = load(`<body><div id="m" role="dialog" aria-labelledby="t">
      <h2 id="t">Welcome back, Ada</h2><p>Signed in as ada.lovelace@example.com</p>
      <button>Continue</button><a href="/out">Sign out</a><input type="text"></div></body>`);
    const summary = plain(modals.summarize(document.getElementById('m'), echoesOf(privacy, ['Ada Lovelace'])));
    assert.deepEqual(summary, {
      title: 'Welcome back, •••',
      text: 'Welcome back, ••• Signed in as ••• Continue Sign out',
      buttons: ['Continue', 'Sign out'],
      fields: 1,
    });
  });
});

describe('createDetector', () => {
  it('reports a modal opening and closing, once each', async () => {
    const { window, document, modals } = load('<body><main><h1>Shop</h1></main></body>');
    const seen = [];
    let clock = 1000;
    // jsdom has no layout: a semantic dialog is visible when not hidden.
    const classify = (el) => (el.matches('[role=dialog]') && !el.hidden ? 'aria' : null);
    const detector = modals.createDetector(window, {
      classify,
      now: () => clock,
      onOpen: ({ id, kind, element }) => seen.push(['open', id, kind, element.id]),
      onClose: ({ id, kind, openMs }) => seen.push(['close', id, kind, openMs]),
    });
    const wait = () => new Promise((resolve) => setTimeout(resolve, 200));
    await wait();
    assert.deepEqual(seen, []);
    const dialog = document.createElement('div');
    dialog.id = 'consent';
    dialog.setAttribute('role', 'dialog');
    document.body.append(dialog);
    await wait();
    dialog.setAttribute('data-x', '1'); // unrelated change: no second open
    await wait();
    clock += 2500;
    dialog.hidden = true;
    await wait();
    assert.deepEqual(seen, [['open', 1, 'aria', 'consent'], ['close', 1, 'aria', 2500]]);
    dialog.hidden = false;
    await wait();
    dialog.remove();
    await wait();
    assert.deepEqual(seen.slice(2).map((s) => s.slice(0, 3)), [['open', 2, 'aria'], ['close', 2, 'aria']]);
    detector.stop();
  });

  it('reports the innermost of nested modals (a dialog inside its backdrop)', async () => {
    const { window, document, modals } = load(`<body><div id="backdrop" data-modal><div id="box" role="dialog"><button>OK</button></div></div></body>`);
    const opened = [];
    const detector = modals.createDetector(window, {
      classify: (el) => (el.id === 'backdrop' ? 'overlay' : el.id === 'box' ? 'aria' : null),
      onOpen: ({ element }) => opened.push(element.id),
      onClose: () => {},
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(opened, ['box']);
    detector.stop();
  });
});
