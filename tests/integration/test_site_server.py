"""The fixture site server over real HTTP, and the shop journey walked in real Chromium."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from lab.sites import JourneyStep, Site, load_site, page_url, serve_site

SHOP = Path(__file__).resolve().parents[2] / "fixtures" / "sites" / "shop"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class _LabTargets(HTMLParser):
    """Collects the attributes of every element that carries a data-lab-id."""

    def __init__(self) -> None:
        super().__init__()
        self.by_lab_id: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "data-lab-id" in attributes:
            self.by_lab_id[attributes["data-lab-id"]] = attributes


def lab_targets(html: str) -> dict[str, dict[str, str]]:
    parser = _LabTargets()
    parser.feed(html)
    return parser.by_lab_id


@pytest.fixture(scope="module")
def shop() -> Site:
    return load_site(SHOP)


@pytest_asyncio.fixture
async def base_url(shop: Site) -> AsyncIterator[str]:
    async with serve_site(shop, port=0) as url:
        yield url


@pytest_asyncio.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


@pytest_asyncio.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_every_page_renders_uncached(shop: Site, http: httpx.AsyncClient, version: str) -> None:
    for page in [*shop.pages(), "card-field.html", "confirmation.html", "product.html?id=999"]:
        response = await http.get(f"/{version}/{page}")

        assert response.status_code == 200, f"{version}/{page}: {response.text[:500]}"
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"


@pytest.mark.asyncio
async def test_ids_and_classes_change_between_loads(http: httpx.AsyncClient) -> None:
    first = lab_targets((await http.get("/v1/product.html?id=4")).text)
    second = lab_targets((await http.get("/v1/product.html?id=4")).text)

    for lab_id in ("add-to-cart", "dialog-view-cart"):
        assert first[lab_id]["id"] != second[lab_id]["id"]
        assert first[lab_id]["class"] != second[lab_id]["class"]
        assert re.fullmatch(r"\w+__[A-Za-z0-9]{5}", first[lab_id]["class"])
    assert first["add-to-cart"]["data-testid"] == second["add-to-cart"]["data-testid"] == "add-to-cart"

    listings = [list(lab_targets((await http.get("/v1/index.html")).text)) for _ in range(3)]
    assert len({tuple(order) for order in listings}) > 1, "product cards should be shuffled per load"


async def _source_with_frames(http: httpx.AsyncClient, url: str) -> str:
    """A page's HTML followed by the HTML of the same-origin iframes it embeds."""
    html = (await http.get(url)).text
    frames = re.findall(r'<iframe[^>]*\ssrc="([^"]+)"', html)
    return "\n".join([html, *[(await http.get(urljoin(url, src))).text for src in frames]])


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_journey_targets_exist_unless_removed(
    shop: Site, http: httpx.AsyncClient, base_url: str, version: str
) -> None:
    # Targets made by page scripts (cookie banner, shadow root) appear literally in the inline script.
    for step in shop.journey:
        source = await _source_with_frames(http, page_url(base_url, version, step.page))

        present = f'data-lab-id="{step.target}"' in source
        assert present == step.present_in(version), f"{version}/{step.page}: {step.target} present={present}"


@pytest.mark.asyncio
async def test_static_files_redirects_and_missing_pages(http: httpx.AsyncClient) -> None:
    favicon = await http.get("/v2/favicon.svg")
    assert favicon.status_code == 200
    assert favicon.headers["content-type"] == "image/svg+xml; charset=utf-8"
    assert favicon.text.startswith("<svg")

    home = await http.get("/")
    assert home.status_code == 200 and 'href="/v1/"' in home.text and 'href="/v2/"' in home.text
    redirect = await http.get("/v1")
    assert redirect.status_code == 301 and redirect.headers["location"] == "/v1/"
    index = await http.get("/v1/")
    assert index.status_code == 200 and 'data-lab-id="product-link-4"' in index.text
    head = await http.head("/v1/index.html")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0

    for missing in ("/v3/index.html", "/v1/nope.html", "/v1/_layout.html", "/v1/../site.json", "/v1/%2e%2e/site.json"):
        response = await http.get(missing)
        assert response.status_code == 404, missing


@pytest.mark.asyncio
async def test_broken_template_answers_500_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "bad.html").write_text("<p>\n{% if %}\n</p>")
    (tmp_path / "site.json").write_text('{"name": "broken", "versions": ["v1"]}')
    (tmp_path / "journey.json").write_text("[]")

    async with serve_site(load_site(tmp_path)) as url, httpx.AsyncClient() as client:
        response = await client.get(page_url(url, "v1", "bad.html"))

    assert response.status_code == 500
    assert f"{tmp_path / 'v1' / 'bad.html'} line 2: TemplateSyntaxError" in response.text


async def find_target(page: Page, lab_id: str, timeout_ms: int = 5000) -> Locator | None:
    """The element with `data-lab-id` in any frame (CSS locators pierce open shadow roots), or None."""
    selector = f'[data-lab-id="{lab_id}"]'
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_ms / 1000
    while True:
        for frame in page.frames:
            locator = frame.locator(selector)
            if await locator.count():
                return locator
        if loop.time() > deadline:
            return None
        await asyncio.sleep(0.05)


async def go_to_step_page(page: Page, url: str, after_click: bool) -> None:
    """Stay if the previous click brought us here (keeping page state), otherwise navigate."""
    if page.url == url:
        return
    if after_click:
        try:
            await page.wait_for_url(url, timeout=1500)
            return
        except PlaywrightTimeoutError:
            pass  # that click did not navigate here; load the page instead
    await page.goto(url)


async def perform(target: Locator, step: JourneyStep) -> None:
    if step.action == "click":
        await target.click()
    elif step.action == "fill":
        await target.fill(step.value or "")
    elif step.action == "select":
        await target.select_option(step.value or "")
    else:
        await target.scroll_into_view_if_needed()


@pytest.mark.browser
@pytest.mark.asyncio
@pytest.mark.parametrize("viewport", [(1280, 860), (390, 844)], ids=["desktop", "mobile"])
@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_journey_is_walkable_to_confirmation(
    shop: Site, base_url: str, chromium: Browser, version: str, viewport: tuple[int, int]
) -> None:
    width, height = viewport
    context = await chromium.new_context(viewport={"width": width, "height": height}, is_mobile=width < 600)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    after_click = False
    for step in shop.journey:
        await go_to_step_page(page, page_url(base_url, version, step.page), after_click)
        if not step.present_in(version):
            assert await find_target(page, step.target, timeout_ms=500) is None, f"{step.target} should be gone"
            continue
        target = await find_target(page, step.target)
        assert target is not None, f"{version}/{step.page}: no [data-lab-id={step.target}]"
        assert await target.count() == 1
        await perform(target, step)
        after_click = step.action == "click"

    await page.wait_for_url(page_url(base_url, version, "confirmation.html"))
    heading = page.locator('[data-lab-id="order-confirmation"]')
    await heading.wait_for()
    assert await heading.text_content() == "Thank you, Ada!"
    assert "ada@example.com" in await page.content()
    assert errors == []
    await context.close()
