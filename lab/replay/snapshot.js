// Serializes a document as it is now, for the `snapshot` replay state: the whole DOM with open
// shadow roots written as declarative shadow DOM (<template shadowrootmode="open">), which the
// HTML parser turns back into shadow roots when the snapshot is loaded. Scripts stay in as
// text; the replay state blocks them with CSP. Form values typed since load are not attributes
// and are not kept.
(doc) => {
  const roots = [];
  const walk = (node) => {
    for (const el of node.querySelectorAll("*")) {
      if (el.shadowRoot) {
        roots.push(el.shadowRoot);
        walk(el.shadowRoot);
      }
    }
  };
  walk(doc);
  const html = doc.documentElement;
  const escape = (v) => v.replace(/&/g, "&amp;").replace(/"/g, "&quot;");
  const attrs = Array.from(html.attributes, (a) => ` ${a.name}="${escape(a.value)}"`).join("");
  const doctype = doc.doctype ? `<!DOCTYPE ${doc.doctype.name}>` : "";
  return `${doctype}<html${attrs}>${html.getHTML({ shadowRoots: roots })}</html>`;
}
