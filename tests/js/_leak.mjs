import { loadPage } from './page.mjs';
const rnd = (alpha, n) => Array.from({ length: n }, () => alpha[Math.floor(Math.random() * alpha.length)]).join('');
const L = 'abcdefghijklmnopqrstuvwxyz', D = '0123456789', U = L.toUpperCase();
const N = 1500;
const ids = Array.from({ length: N }, (_, i) => `btn-${rnd(L + D, 6)}`);
const classes = Array.from({ length: N }, () => `Button_primary__${rnd(L + U + D, 5)}`);
const html = '<body>' + ids.map((id, i) => `<div><button id="${id}" class="${classes[i]}">B</button></div>`).join('') + '</body>';
const page = loadPage(html);
let idLeak = 0, classLeak = 0;
const buttons = page.document.querySelectorAll('button');
for (let i = 0; i < 300; i++) {
  const fp = page.selectors.generate(buttons[i]).fingerprint;
  if (fp.attrs.id) idLeak++;
  if (fp.attrs.class) classLeak++;
}
console.log('id leak', idLeak / 300, 'class leak', classLeak / 300);
