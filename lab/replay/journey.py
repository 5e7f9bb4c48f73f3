"""Walk a fixture site's journey with the generator injected and turn every step's target into a replay target.

This is how benchmarks and tests get candidates exactly as the extension would: the same
generator.js, called on the element a shopper acts on (click, fill, select or scroll). The
harness locates that element by its `data-lab-id` (ground truth the generator never reads)
and performs each step, so state built by earlier steps (a cart, an open dialog) is there
when later targets are generated. Before each step it also stores the DOM as it is (for the
`snapshot` state) and the URL of the same page in the next version (for `next_version`), and
for each page the cookies and local storage it was entered with (a filled cart), so replay
loads the page in the state the shopper saw it in.

A target inside a same-origin iframe is recorded as the extension records it: against the
frame's own URL, where replay loads it. A frame with no loadable URL (srcdoc, about:blank) is
skipped and listed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from playwright.async_api import Browser, Frame, Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from lab.replay.conditions import DESKTOP, Viewport
from lab.replay.engine import ReplayTarget, default_generator_path
from lab.replay.urls import with_version
from lab.selectors.outcomes import Candidate
from lab.sites import JourneyStep, Site, page_url

log = structlog.get_logger(__name__)

# How long a step waits for its target to appear (page scripts may create it after load).
TARGET_TIMEOUT_MS = 10_000
# How long a step waits for a previous click's navigation to land on the step's page.
NAVIGATION_WAIT_MS = 3_000
SNAPSHOT_SCRIPT = (Path(__file__).with_name("snapshot.js")).read_text(encoding="utf-8")
GENERATE_SCRIPT = (
    "(el, snapshot) => ({record: globalThis.codesightSelectors.generate(el),"
    f" snapshot: snapshot ? ({SNAPSHOT_SCRIPT})(el.ownerDocument) : null}})"
)

Annotator = Callable[[Page, Frame, Locator], Awaitable[tuple[Candidate, ...]]]
"""Extra selectors for a step's element, made beside the generator's (benchmark baselines)."""


@dataclass(frozen=True)
class JourneyWalk:
    """The targets generated along a journey, each step by click id, and the targets left out."""

    targets: list[ReplayTarget]
    skipped_in_frames: list[str]
    steps: dict[str, JourneyStep]


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


def next_version_of(site: Site, version: str) -> str | None:
    """The version after `version` in the site's list, None for the last."""
    at = site.versions.index(version)
    return site.versions[at + 1] if at + 1 < len(site.versions) else None


async def walk_journey(
    browser: Browser,
    site: Site,
    base_url: str,
    version: str,
    *,
    viewport: Viewport = DESKTOP,
    generator_path: Path | None = None,
    snapshots: bool = True,
    annotate: Annotator | None = None,
    init_scripts: Sequence[str] = (),
    actions: Collection[str] = ("click",),
) -> JourneyWalk:
    """Follow `site`'s journey in `version` on a served site and generate a target for each step
    whose action is in `actions` (clicks by default; benchmarks take every action).

    `init_scripts` are added to the walk's pages (what `annotate` needs in them); replay
    contexts never see them.
    """
    path = generator_path or default_generator_path()
    following = next_version_of(site, version)
    context = await browser.new_context(**viewport.context_options())
    targets: list[ReplayTarget] = []
    skipped: list[str] = []
    steps: dict[str, JourneyStep] = {}
    try:
        await context.add_init_script(path=path)
        for script in init_scripts:
            await context.add_init_script(script=script)
        page = await context.new_page()
        after_click = False
        visited: str | None = None
        arrival_storage: Mapping[str, Any] | None = None
        for index, step in enumerate(site.journey_for(version)):
            url = page_url(base_url, version, step.page)
            await _arrive(page, url, after_click)
            if url != visited:  # cookies and storage as the page was entered: replay loads it so
                visited, arrival_storage = url, await context.storage_state()
            frame, locator = await _locate(page, step.target)
            target_url = url if frame is page.main_frame else frame.url
            if step.action not in actions:
                pass
            elif target_url.startswith(("http://", "https://")):
                captured = await locator.evaluate(GENERATE_SCRIPT, snapshots)
                click_id = f"{index}:{step.target}"
                next_url = with_version(target_url, site.versions, following) if following else None
                targets.append(
                    ReplayTarget(
                        click_id=click_id,
                        page_url=target_url,
                        candidates=tuple(Candidate.from_wire(c) for c in captured["record"]["candidates"]),
                        fingerprint=captured["record"]["fingerprint"],
                        lab_id=step.target,
                        snapshot_html=captured["snapshot"],
                        next_version_url=next_url,
                        present_in_next_version=following is None or step.present_in(following),
                        baselines=await annotate(page, frame, locator) if annotate else (),
                        storage_state=arrival_storage,
                    )
                )
                steps[click_id] = step
            else:
                skipped.append(step.target)  # a frame without a URL of its own cannot be loaded again
            await _perform(step, locator)
            after_click = step.action == "click"
    finally:
        await context.close()
    log.info("journey.walked", site=site.name, version=version, targets=len(targets), skipped=skipped)
    return JourneyWalk(targets, skipped, steps)
