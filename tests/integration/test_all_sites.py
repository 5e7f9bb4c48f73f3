"""Every fixture site's journey, walked in real Chromium on every version at desktop and mobile sizes.

The walk follows DESIGN.md ("Fixture site format"): a step happens on its `page`; when the
browser is already there (the previous click navigated, or an SPA pushed that URL) it carries
on without reloading, so carts and open dialogs survive. Targets are found by `data-lab-id` in
any frame (open shadow roots included) and may be created by script after load. A step whose
`removed_in` names the version must find nothing on its page.

Walks spend most of their time waiting on page timers, so the module starts every selected
walk at once (a few at a time, one browser, one context each) and each test awaits its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Frame, Locator, Page, Request, Response, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from lab.sites import JourneyStep, Site, discover_sites, page_url, serve_site

SITES_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "sites"
SITES = discover_sites([SITES_DIR])
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORTS = {"desktop": (1440, 900), "mobile": (390, 844)}

# Walks in flight at once: enough to overlap their waits, few enough for a two-core CI runner.
CONCURRENT_WALKS = 4
# How long a present target may take to appear (script-made banners, appended list items, iframes).
TARGET_TIMEOUT_MS = 10_000
# A removed target must still be absent this long after its page arrived: longer than any
# delayed script on the fixture sites (the slowest, a newsletter modal, opens after 400 ms).
ABSENCE_SETTLE_MS = 700
# Playwright's click waits for the navigations it triggers; this covers pages that navigate a moment later.
NAVIGATION_GRACE_MS = 100
NAVIGATION_TIMEOUT_MS = 10_000
ACTION_TIMEOUT_MS = 10_000

WalkKey = tuple[str, str, str]  # site name, version, viewport name

WALKS = [
    pytest.param(name, version, viewport, id=f"{name}-{version}-{viewport}")
    for name, site in sorted(SITES.items())
    for version in site.versions
    for viewport in VIEWPORTS
]


@dataclass
class WalkReport:
    """What went wrong in a walk that reached its last step: failed page loads and uncaught script errors."""

    failed_loads: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)


class Navigations:
    """The top frame's navigations: whether one began since the last reset, when the current page
    arrived (loaded, or pushed by an SPA), and every page or frame that failed to load."""

    def __init__(self, page: Page, report: WalkReport) -> None:
        self._page = page
        self._loop = asyncio.get_running_loop()
        self._report = report
        self.started = False
        self.arrived_at = self._loop.time()
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        page.on("framenavigated", self._on_navigated)
        page.on("load", lambda _: self._arrive())

    def _arrive(self) -> None:
        self.arrived_at = self._loop.time()

    def _on_request(self, request: Request) -> None:
        if request.is_navigation_request() and request.frame == self._page.main_frame:
            self.started = True

    def _on_response(self, response: Response) -> None:
        if response.request.is_navigation_request() and response.status >= 400:
            self._report.failed_loads.append(f"{response.status} {response.url}")

    def _on_navigated(self, frame: Frame) -> None:
        if frame == self._page.main_frame:
            self._arrive()


async def arrive(page: Page, url: str, navigations: Navigations) -> None:
    """Be at `url`: stay if already there (state kept), follow a navigation the last action began, else load it."""
    if page.url != url and not navigations.started:
        await asyncio.sleep(NAVIGATION_GRACE_MS / 1000)
    if page.url == url:
        return
    if navigations.started:
        try:
            await page.wait_for_url(url, timeout=NAVIGATION_TIMEOUT_MS)
            return
        except PlaywrightTimeoutError:
            pass  # the last action navigated somewhere else; the step's page is loaded below
    await page.goto(url)


async def find_targets(page: Page, lab_id: str, deadline: float) -> list[Locator]:
    """Every `data-lab-id` match in all frames (CSS pierces open shadow roots), polled until one shows or `deadline`."""
    selector = f'[data-lab-id="{lab_id}"]'
    loop = asyncio.get_running_loop()
    while True:
        found = [frame.locator(selector) for frame in page.frames]
        counts = [await locator.count() for locator in found]
        if any(counts) or loop.time() >= deadline:
            return [locator.nth(i) for locator, count in zip(found, counts, strict=True) for i in range(count)]
        await asyncio.sleep(0.05)


async def perform(target: Locator, step: JourneyStep) -> None:
    if step.action == "click":
        await target.click()
    elif step.action == "fill":
        await target.fill(step.value or "")
    elif step.action == "select":
        await target.select_option(step.value or "")
    else:
        await target.scroll_into_view_if_needed()


async def walk(page: Page, base_url: str, site: Site, version: str, report: WalkReport) -> None:
    """Take every step of `site`'s journey on `version`; a removed target must be absent from its page."""
    loop = asyncio.get_running_loop()
    navigations = Navigations(page, report)
    for number, step in enumerate(site.journey, start=1):
        where = f"{site.name}/{version}/{step.page} step {number} ({step.action} {step.target})"
        await arrive(page, page_url(base_url, version, step.page), navigations)
        if not step.present_in(version):
            matches = await find_targets(page, step.target, navigations.arrived_at + ABSENCE_SETTLE_MS / 1000)
            assert not matches, f"{where}: removed in {version}, yet {len(matches)} found"
            continue
        matches = await find_targets(page, step.target, loop.time() + TARGET_TIMEOUT_MS / 1000)
        assert len(matches) == 1, (
            f"{where}: expected one [data-lab-id] in the page and its frames, found {len(matches)}"
        )
        navigations.started = False
        await perform(matches[0], step)


async def walk_in_new_context(browser: Browser, name: str, version: str, viewport: str) -> WalkReport:
    """Serve `name` and walk its journey on `version` in a fresh context of the `viewport` size."""
    site = SITES[name]
    width, height = VIEWPORTS[viewport]
    report = WalkReport()
    context = await browser.new_context(viewport={"width": width, "height": height}, is_mobile=width < 600)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = await context.new_page()
        page.on("pageerror", lambda error: report.script_errors.append(str(error)))
        async with serve_site(site) as base_url:
            await walk(page, base_url, site, version, report)
    finally:
        await context.close()
    return report


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def walks(
    request: pytest.FixtureRequest, chromium: Browser
) -> AsyncIterator[dict[WalkKey, asyncio.Task[WalkReport]]]:
    """One running walk per selected test of this module, started together; a test awaits its own."""
    selected: list[WalkKey] = [
        (str(params["name"]), str(params["version"]), str(params["viewport"]))
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module and hasattr(item, "callspec")
        for params in [item.callspec.params]
    ]
    slots = asyncio.Semaphore(CONCURRENT_WALKS)

    async def run(key: WalkKey) -> WalkReport:
        async with slots:
            return await walk_in_new_context(chromium, *key)

    tasks = {key: asyncio.create_task(run(key), name=f"walk {'-'.join(key)}") for key in selected}
    yield tasks
    # Every test awaited its walk; what is left belongs to tests that never ran (a stopped session).
    for task in tasks.values():
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)


@pytest.mark.browser
@pytest.mark.parametrize(("name", "version", "viewport"), WALKS)
async def test_journey_walks_on_every_version_and_viewport(
    walks: dict[WalkKey, asyncio.Task[WalkReport]], name: str, version: str, viewport: str
) -> None:
    report = await walks[(name, version, viewport)]

    assert report.failed_loads == [], f"{name}/{version}/{viewport}: pages that failed to load"
    assert report.script_errors == [], f"{name}/{version}/{viewport}: uncaught script errors"
