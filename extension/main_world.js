/*
 * Runs in the page's own JavaScript world (manifest: "world": "MAIN"), where SPAs call
 * history.pushState / replaceState. Those calls fire no event, so they are wrapped here to
 * announce themselves with a `codesight:history` DOM event, which the isolated content
 * script (content.js) hears. The Navigation API's `navigatesuccess` is forwarded the same
 * way. Nothing is read from the page and nothing is sent anywhere from this world.
 */
(function () {
  'use strict';

  if (window.__codesightHistoryPatched) return;
  Object.defineProperty(window, '__codesightHistoryPatched', { value: true });

  const announce = (kind) => window.dispatchEvent(new CustomEvent('codesight:history', { detail: { kind } }));
  for (const [method, kind] of [['pushState', 'push'], ['replaceState', 'replace']]) {
    const original = History.prototype[method];
    History.prototype[method] = function (...args) {
      const result = original.apply(this, args);
      announce(kind);
      return result;
    };
  }
  if (window.navigation && typeof window.navigation.addEventListener === 'function') {
    // Same-document navigations the page did not make with pushState (back / forward, the
    // Navigation API's own navigate()) are announced once committed, with their type.
    let pending = null;
    window.navigation.addEventListener('navigate', (e) => { pending = e.navigationType; });
    window.navigation.addEventListener('navigatesuccess', () => {
      announce(pending === 'traverse' ? 'pop' : pending || 'navigate');
      pending = null;
    });
  }
})();
