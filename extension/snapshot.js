/*
 * A serialized DOM snapshot of the page as it is now, for replay's "stored snapshot"
 * condition: HTML with open shadow roots as declarative <template shadowrootmode="open">,
 * same-origin iframes inlined as srcdoc, no scripts or event handlers, and every form
 * value masked (privacy.js). Text and attributes are masked for echoes and personal
 * patterns; placeholders and value attributes of sensitive fields are masked outright.
 *
 * A classic script with no chrome.* calls, loaded after privacy.js. Defines
 * globalThis.codesightSnapshot = {serialize, gzipBase64}.
 */
(function () {
  'use strict';

  const privacy = globalThis.codesightPrivacy;
  const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);
  // Dropped with their content: code that would run again, and the recorder's own overlay.
  const DROPPED = new Set(['script', 'noscript', 'codesight-highlight']);
  const RAW_TEXT = new Set(['style']);
  // Larger documents are cut here (and flagged): a snapshot is for replay, not an archive of the web.
  const DEFAULT_MAX_CHARS = 6_000_000;
  const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'poster', 'cite']);
  // Styling and SVG geometry: runs of numbers that are never personal data, left as they are.
  const GEOMETRY_ATTRS = new Set(['style', 'class', 'd', 'points', 'viewbox', 'transform', 'srcset', 'sizes', 'width', 'height']);

  function escapeText(s) {
    return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }

  function escapeAttr(s) {
    return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }

  function isField(el) {
    return el.localName === 'input' || el.localName === 'textarea' || el.localName === 'select';
  }

  function inputType(el) {
    return (el.getAttribute('type') || 'text').toLowerCase();
  }

  /** The attributes to write for `el`, with form state and personal data masked. */
  function attributesOf(el, echoes, fieldCategory) {
    const out = [];
    const sensitive = fieldCategory && (privacy.isSensitiveCategory(fieldCategory) || privacy.neverCaptured(fieldCategory));
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on')) continue;
      if (fieldCategory && (name === 'value' || name === 'checked' || name === 'selected')) continue;
      if (name === 'srcdoc') continue;
      let value = attr.value;
      if (sensitive && (name === 'placeholder' || name === 'title')) value = value ? privacy.MASK : value;
      else if (URL_ATTRS.has(name)) value = privacy.maskUrl(value, echoes);
      else if (!GEOMETRY_ATTRS.has(name)) value = privacy.maskText(value, echoes);
      if (name === 'href' && /^\s*javascript:/i.test(value)) value = '#';
      out.push([attr.name, value]);
    }
    if (el.localName === 'input' && fieldCategory) {
      const type = inputType(el);
      if (type === 'checkbox' || type === 'radio') {
        if (el.checked && !sensitive) out.push(['checked', '']);
      } else if (['submit', 'button', 'reset', 'image'].includes(type)) {
        if (el.hasAttribute('value')) out.push(['value', privacy.maskText(el.getAttribute('value'), echoes)]);
      } else {
        const masked = privacy.maskedFieldValue(el, fieldCategory);
        if (masked) out.push(['value', masked]);
      }
    }
    return out;
  }

  /**
   * Serialize `doc` (and its open shadow roots and same-origin iframes) as HTML with form
   * values masked. Returns {html, nodes, truncated}.
   */
  function serialize(doc, { echoes = null, maxChars = DEFAULT_MAX_CHARS } = {}) {
    const parts = [];
    let chars = 0;
    let nodes = 0;
    let truncated = false;
    const push = (s) => {
      if (truncated) return;
      if (chars + s.length > maxChars) { truncated = true; return; }
      parts.push(s);
      chars += s.length;
    };

    const children = (node, selectCategory) => {
      for (let child = node.firstChild; child && !truncated; child = child.nextSibling) write(child, selectCategory);
    };

    function write(node, selectCategory) {
      nodes += 1;
      if (node.nodeType === 3) {
        const parent = node.parentNode;
        if (parent && RAW_TEXT.has(parent.localName)) push(node.data.replace(/<\/style/gi, '<\\/style'));
        else push(escapeText(privacy.maskText(node.data, echoes)));
        return;
      }
      if (node.nodeType !== 1) return;
      const el = node;
      const tag = el.localName;
      if (DROPPED.has(tag)) return;
      if (tag === 'link' && /\b(preload|modulepreload|prefetch)\b/i.test(el.getAttribute('rel') || '')) return;
      const category = isField(el) ? privacy.fieldCategory(el) : null;
      const attrs = attributesOf(el, echoes, category);
      if (tag === 'option' && selectCategory === 'choice' && el.selected) attrs.push(['selected', '']);
      if (tag === 'iframe') {
        const inner = sameOriginDocument(el);
        if (inner) attrs.push(['srcdoc', serialize(inner, { echoes, maxChars: Math.max(0, maxChars - chars) }).html]);
      }
      push(`<${tag}${attrs.map(([k, v]) => ` ${k}="${escapeAttr(v)}"`).join('')}>`);
      if (VOID.has(tag)) return;
      if (el === doc.head && !el.querySelector('base[href]')) {
        // Relative URLs (stylesheets, images) keep resolving wherever the snapshot is loaded.
        push(`<base href="${escapeAttr(privacy.maskUrl(doc.baseURI, echoes))}">`);
      }
      if (el.shadowRoot && el.shadowRoot.mode === 'open') {
        push('<template shadowrootmode="open">');
        children(el.shadowRoot, null);
        push('</template>');
      }
      if (tag === 'textarea') {
        push(escapeText(privacy.maskedFieldValue(el, category)));
      } else if (tag === 'template' && el.content) {
        children(el.content, null);
      } else {
        children(el, tag === 'select' ? category : selectCategory);
      }
      push(`</${tag}>`);
    }

    push('<!doctype html>');
    if (doc.documentElement) write(doc.documentElement, null);
    return { html: parts.join(''), nodes, truncated };
  }

  function sameOriginDocument(iframe) {
    try {
      const inner = iframe.contentDocument;
      return inner && inner.documentElement ? inner : null;
    } catch {
      return null; // cross-origin: its own content script does not inline it
    }
  }

  function base64(bytes) {
    let binary = '';
    const chunk = 0x8000;
    for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
    return btoa(binary);
  }

  /** gzip `text` with CompressionStream; resolves to a `data:application/gzip;base64,` URL and its size. */
  async function gzipBase64(text) {
    const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    return { data: `data:application/gzip;base64,${base64(bytes)}`, size_bytes: bytes.length };
  }

  globalThis.codesightSnapshot = { serialize, gzipBase64 };
})();
