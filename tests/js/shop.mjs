// A small shop page with the hazards of real sites: hashed classes, generated ids,
// repeated product cards, prices in button text, icons inside buttons.
export const SHOP_HTML = `<!doctype html>
<html><head><title>Mugs</title></head><body>
<header class="site-header">
  <nav aria-label="Main"><a href="/">Home</a> <a href="/mugs" class="nav-link">Mugs</a>
  <a href="/cart" class="Header_cart__3xK9q cart-link" id="cart-link"><svg aria-hidden="true"><path d="M0 0"></path></svg> Cart (3)</a></nav>
  <form role="search" action="/search"><input type="search" name="q" placeholder="Search mugs" aria-label="Search"></form>
</header>
<main id="products" class="css-1q2w3e">
  <article class="product-card ProductCard_root__a1B2c" data-lab-id="card-1">
    <img src="/img/blue.png?v=12345" alt="Blue mug">
    <h2 class="sc-bdfBwQ kYjGtw">Blue mug</h2><span class="price">$12.00</span>
    <button class="btn btn-primary Button_primary__x7Ab2" id=":r1:" data-lab-id="add-1"><i class="icon-cart"></i><span>Add to cart – $12.00</span></button>
    <a href="/product?id=1" class="details">Details</a>
  </article>
  <article class="product-card ProductCard_root__a1B2c" data-lab-id="card-2">
    <img src="/img/red.png" alt="Red mug">
    <h2>Red mug</h2><span class="price">$14.50</span>
    <button class="btn btn-primary" id="btn-83829412" data-lab-id="add-2"><span>Add to cart – $14.50</span></button>
    <a href="/product?id=2" class="details">Details</a>
  </article>
  <div class="promo" onclick="void 0"><b>Free shipping</b> over $50</div>
</main>
<aside><form id="newsletter">
  <label for="email">Email</label><input id="email" name="email" type="email" placeholder="you@example.com">
  <label><input type="checkbox" name="terms"> I accept the terms</label>
  <select name="size" aria-label="Size"><option>S</option><option>M</option></select>
  <textarea name="note" placeholder="Anything else?"></textarea>
  <button type="submit" data-testid="subscribe">Subscribe</button>
  <input type="submit" value="Send later" title="Queue it">
</form></aside>
<footer><a href="/help" title="Help center">?</a><span role="button" tabindex="0">Back to top</span></footer>
</body></html>`;
