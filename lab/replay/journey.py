"""Walk a fixture site's journey with the generator injected and turn its clicks into replay targets.

This is how benchmarks and tests get candidates exactly as the extension would: the same
generator.js, called on the element a shopper clicks. The harness locates that element by its
`data-lab-id` (ground truth the generator never reads) and performs each step, so state built
by earlier steps (a cart, an open dialog) is there when later targets are generated.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import structlog
from playwright.async_api import Browser, Frame, Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from lab.replay.conditions import DESKTOP, Viewport
from lab.replay.engine import ReplayTarget, default_generator_path
from lab.selectors.outcomes import Candidate
from lab.sites import JourneyStep, Site, page_url

log = structlog.get_logger(__name__)

# How long a step waits for its target to appear (page scripts may create it after load).
TARGET_TIMEOUT_MS = 10_000
# How long a step waits for a previous click's navigation to land on the step's page.
NAVIGATION_WAIT_MS = 3_000


@dataclass(frozen=True)
class JourneyWalk:
    """The click targets generated along a journey, and the clicks left out (in iframes)."""

    targets: list[ReplayTarget]
    skipped_in_frames: list[str]


async def _locate(page: Page, lab_id: str) -> tuple[Frame, Locator]:
    """The frame holding `[data-lab-id=lab_id]` (open shadow roots pierced) and its locator."""
    selector = f'[data-lab-id="{lab_id}"]'
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TARGET_TIMEOUT_MS / 1000
    while True:
        for frame in page.frames:
            locator = frame.locator(selector)
            if await locator.count():
                return frame, locator.first
        if loop.time() > deadline:
            raise LookupError(f"journey target {lab_id!r} not found on {page.url} within {TARGET_TIMEOUT_MS} ms")
        await asyncio.sleep(0.05)


async def _arrive(page: Page, url: str, after_click: bool) -> None:
    """Be on `url`: stay if already there, let a click's navigation land, else load it."""
    if page.url == url:
        return
    if after_click:
        try:
            await page.wait_for_url(url, timeout=NAVIGATION_WAIT_MS)
            return
        except PlaywrightTimeoutError:
            pass  # the click did not lead here: the journey continues on a freshly loaded page
    await page.goto(url)


async def _perform(step: JourneyStep, locator: Locator) -> None:
    if step.action == "click":
        await locator.click()
    elif step.action == "fill":
        await locator.fill(step.value or "")
    elif step.action == "select":
        await locator.select_option(step.value)
    else:
        await locator.scroll_into_view_if_needed()


async def walk_journey(
    browser: Browser,
    site: Site,
    base_url: str,
    version: str,
    *,
    viewport: Viewport = DESKTOP,
    generator_path: Path | None = None,
) -> JourneyWalk:
    """Follow `site`'s journey in `version` on a served site and generate a target for each click."""
    path = generator_path or default_generator_path()
    context = await browser.new_context(**viewport.context_options())
    targets: list[ReplayTarget] = []
    skipped: list[str] = []
    try:
        await context.add_init_script(path=path)
        page = await context.new_page()
        after_click = False
        for index, step in enumerate(site.journey_for(version)):
            url = page_url(base_url, version, step.page)
            await _arrive(page, url, after_click)
            frame, locator = await _locate(page, step.target)
            if step.action == "click":
                if frame is page.main_frame:
                    record = await locator.evaluate("el => globalThis.codesightSelectors.generate(el)")
                    targets.append(
                        ReplayTarget(
                            click_id=f"{index}:{step.target}",
                            page_url=url,
                            candidates=tuple(Candidate.from_wire(c) for c in record["candidates"]),
                            fingerprint=record["fingerprint"],
                            lab_id=step.target,
                        )
                    )
                else:
                    skipped.append(step.target)  # the engine evaluates the top frame only, for now
            await _perform(step, locator)
            after_click = step.action == "click"
    finally:
        await context.close()
    log.info("journey.walked", site=site.name, version=version, clicks=len(targets), skipped=skipped)
    return JourneyWalk(targets, skipped)
