// In-page side of the benchmark's baselines, evaluated after @medv/finder (as globalThis.__csFinder)
// and css-selector-generator (its UMD build sets globalThis.CssSelectorGenerator). Defines
// globalThis.codesightBaselines.generate(el) -> {name: selector or null} with each tool's
// defaults; an element in an open shadow root gets its tree's root as the tools' root.
(function () {
  "use strict";

  /** Absolute positional XPath from the tree's root, every step indexed ("/html[1]/body[1]/div[2]"). */
  function absoluteXPath(el) {
    const steps = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const parent = e.parentElement || e.parentNode;
      const same = parent ? Array.from(parent.children).filter((c) => c.localName === e.localName) : [e];
      const tag = e.namespaceURI === "http://www.w3.org/1999/xhtml" ? e.localName : `*[local-name()="${e.localName}"]`;
      steps.unshift(`${tag}[${same.indexOf(e) + 1}]`);
    }
    return `/${steps.join("/")}`;
  }

  function attempt(make) {
    try {
      const selector = make();
      return typeof selector === "string" && selector ? selector : null;
    } catch (e) {
      return null;
    }
  }

  globalThis.codesightBaselines = {
    generate(el) {
      const root = el.getRootNode();
      const options = root.nodeType === 11 ? { root } : {};
      const generator = globalThis.CssSelectorGenerator || {};
      const cssSelectorGenerator = generator.getCssSelector || generator.default;
      return {
        finder: attempt(() => globalThis.__csFinder(el, options)),
        "css-selector-generator": attempt(() => cssSelectorGenerator(el, options)),
        "absolute-xpath": absoluteXPath(el),
      };
    },
  };
})();
