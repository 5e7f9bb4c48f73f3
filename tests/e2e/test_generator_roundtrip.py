"""generator.js in real Chromium, tested by round trip as Playwright tests its own generator.

For every clickable element of a small shop page: generate, then every candidate marked
unique must match exactly that element through `query`, and `resolve` must return it — also
after the record went through JSON, as it does on the wire.
"""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Frame, Page

from lab.config import get_settings
from lab.replay import launch_browser

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

GENERATOR = get_settings().extension_dir / "generator.js"
CLICKABLE = "a, button, input, select, textarea, label, summary, [role=button], [role=tab], [onclick]"


def _hash(prefix: str, rng: random.Random) -> str:
    return prefix + "__" + "".join(rng.choices(string.ascii_letters + string.digits, k=5))


def shop_page(seed: int, order: tuple[str, ...] = ("blue", "red", "green")) -> str:
    """A shop page whose hashed classes and ids change with `seed`, as real sites do on reload."""
    rng = random.Random(seed)
    titles = {"blue": ("Blue mug", "12.00"), "red": ("Red mug", "14.50"), "green": ("Green mug", "9.99")}
    cards = "".join(
        f"""<article class="product-card {_hash("Card_root", rng)}" data-lab-id="card-{key}">
          <img src="/img/{key}.png" alt="{titles[key][0]}" width="80" height="80">
          <h2>{titles[key][0]}</h2><span class="price">${titles[key][1]}</span>
          <button class="btn {_hash("Button_primary", rng)}" id="b-{rng.randrange(10**6, 10**7)}"
                  data-lab-id="add-{key}"><svg width="10" height="10"><rect width="10" height="10"/></svg>
            <span>Add to cart ${titles[key][1]}</span></button>
          <a href="/product/{key}">Details</a>
        </article>"""
        for key in order
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Mugs</title>
<style>
  body {{ font: 16px sans-serif; }} .grid {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px; }}
  .sr-only {{ position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }}
  .mobile-only {{ display: none; }}
</style></head><body>
<header><nav aria-label="Main"><a href="/">Home</a> <a href="/mugs">Mugs</a>
  <a href="/cart" class="cart-link" id="cart-link">Cart <span class="count">(3)</span></a>
  <a href="/cart" class="mobile-only">Cart</a>
  <button aria-label="Open menu" class="menu css-{rng.randrange(10**5, 10**6)}">&#9776;</button></nav>
  <form role="search"><input type="search" name="q" placeholder="Search mugs"><button>Search</button></form>
</header>
<main><h1>Mugs</h1>
  <div role="tablist"><button role="tab" aria-selected="true">Popular</button><button role="tab">New</button></div>
  <section class="grid" aria-label="Products">{cards}</section>
  <details><summary>Shipping</summary>Free over $50.</details>
  <shop-widget></shop-widget>
</main>
<aside><form id="newsletter">
  <label for="email">Email</label><input id="email" name="email" type="email" placeholder="you@example.com">
  <label><input type="checkbox" name="terms"> I accept the terms</label>
  <select name="size" aria-label="Size"><option>S</option><option>M</option></select>
  <textarea name="note" placeholder="Anything else?"></textarea>
  <button type="submit" data-testid="subscribe">Subscribe <span class="sr-only">to news</span></button>
</form></aside>
<footer><a href="/help" title="Help center">?</a> <div onclick="void 0" class="promo">Free returns</div></footer>
<script>
  customElements.define("shop-widget", class extends HTMLElement {{
    connectedCallback() {{
      this.attachShadow({{mode: "open"}}).innerHTML =
        '<div class="widget"><p>Need help?</p><button class="chat">Chat with us</button></div>';
    }}
  }});
</script>
</body></html>"""


# Generates for every clickable element (open shadow roots included) and keeps the targets.
GENERATE_ALL = """(clickable) => {
  const api = globalThis.codesightSelectors;
  const targets = api.query('css=' + clickable).filter((el) => el.checkVisibility());
  window.__targets = targets;
  return targets.map((el) => ({ html: el.outerHTML.slice(0, 120), record: api.generate(el) }));
}"""

# Checks one record against its target; returns the problems found.
CHECK = """({ index, record }) => {
  const api = globalThis.codesightSelectors;
  const target = window.__targets[index];
  const problems = [];
  for (const c of record.candidates) {
    if (!c.unique) continue;
    const matches = api.query(c);
    if (matches.length !== 1) problems.push(`${c.selector} matched ${matches.length}`);
    else if (matches[0] !== target) problems.push(`${c.selector} matched another element`);
  }
  if (api.resolve(record) !== target) problems.push('resolve picked another element');
  return problems;
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with launch_browser() as b:
        yield b


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def load(target: Page | Frame, html: str) -> None:
    await target.set_content(html)
    await target.add_script_tag(path=str(GENERATOR))


async def round_trip(target: Page | Frame) -> list[dict[str, Any]]:
    generated: list[dict[str, Any]] = await target.evaluate(GENERATE_ALL, CLICKABLE)
    for index, item in enumerate(generated):
        problems = await target.evaluate(CHECK, {"index": index, "record": item["record"]})
        assert problems == [], f"{item['html']}: {problems}"
    return generated


async def test_every_clickable_element_round_trips(page: Page) -> None:
    await load(page, shop_page(seed=1))
    generated = await round_trip(page)
    assert len(generated) >= 25
    for item in generated:
        kinds = {c["kind"] for c in item["record"]["candidates"]}
        if item["html"].startswith(("<button", "<a ")):
            assert len(kinds) >= 4, f"{item['html']}: only {sorted(kinds)}"
        assert "data-lab" not in str(item["record"])


async def test_fingerprint_has_layout(page: Page) -> None:
    await load(page, shop_page(seed=1))
    record = await page.evaluate("() => codesightSelectors.generate(document.querySelector('[data-testid=subscribe]'))")
    rect = record["fingerprint"]["rect"]
    assert rect["w"] > 0 and rect["h"] > 0
    assert record["candidates"][0]["selector"] == 'testid="subscribe"'
    assert record["fingerprint"]["name"] == "Subscribe to news"


async def test_shadow_dom_button_round_trips(page: Page) -> None:
    await load(page, shop_page(seed=1))
    generated = await round_trip(page)
    chat = [g for g in generated if "Chat with us" in g["html"]]
    assert len(chat) == 1
    assert any(c["selector"] == 'role=button[name="Chat with us"]' for c in chat[0]["record"]["candidates"])


async def test_hidden_twin_is_not_picked(page: Page) -> None:
    await load(page, shop_page(seed=1))
    record = await page.evaluate("() => codesightSelectors.generate(document.getElementById('cart-link'))")
    picked = await page.evaluate(
        "(r) => codesightSelectors.resolve(r) === document.getElementById('cart-link')", record
    )
    assert picked


async def test_next_load_with_new_hashes_and_shuffled_cards_resolves_same_product(page: Page) -> None:
    await load(page, shop_page(seed=1))
    records = await page.evaluate(
        """() => ['blue', 'red', 'green'].map((key) => codesightSelectors.generate(
             document.querySelector(`[data-lab-id="add-${key}"] span`)))"""
    )
    await load(page, shop_page(seed=2, order=("green", "blue", "red")))
    picked = await page.evaluate(
        "(records) => records.map((r) => codesightSelectors.resolve(r)?.getAttribute('data-lab-id') ?? null)", records
    )
    assert picked == ["add-blue", "add-red", "add-green"]


async def test_removed_button_resolves_to_nothing(page: Page) -> None:
    await load(page, shop_page(seed=1))
    record = await page.evaluate("() => codesightSelectors.generate(document.querySelector('[data-testid=subscribe]'))")
    await page.evaluate("() => document.querySelector('[data-testid=subscribe]').remove()")
    assert await page.evaluate("(r) => codesightSelectors.resolve(r)", record) is None


async def test_same_origin_iframe_round_trips(page: Page) -> None:
    inner = shop_page(seed=3).replace('"', "&quot;")
    await page.set_content(f'<iframe srcdoc="{inner}" width="1200" height="800"></iframe>')
    frame = page.frames[1]
    await frame.wait_for_load_state()
    await frame.add_script_tag(path=str(GENERATOR))
    assert len(await round_trip(frame)) >= 25
