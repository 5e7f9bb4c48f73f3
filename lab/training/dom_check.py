"""Element checks on stored DOM snapshots: does a predicted selector list resolve to the element
the shopper acted on? Playwright with the extension's generator, as replay resolves selectors.

The expected element is what `codesightSelectors.resolve` picks from the captured record (its
candidates and fingerprint); a prediction is right when `resolve` over the predicted selectors
(first unique match, no fingerprint) picks that same element. The snapshot is served at its own
URL with page scripts blocked, and every other request is refused, so nothing reaches the site.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

import structlog
from playwright.async_api import Browser, Page, Route

from lab.config import Settings, get_settings
from lab.replay.engine import default_generator_path, launch_browser

log = structlog.get_logger(__name__)

# Pages loading snapshots at once, in one browser context, each loading its cases in turn (opening a
# page costs several navigations; more pages than a small machine's cores only queue up).
TABS = 2
CHECK_SCRIPT = """({expected, predicted}) => {
  const api = globalThis.codesightSelectors;
  const target = api.resolve(expected);
  if (!target) return {found: false, picks: predicted.map(() => false)};
  return {found: true, picks: predicted.map((candidates) => api.resolve({candidates}) === target)};
}"""


@dataclass(frozen=True)
class SnapshotCase:
    """One step to check: the stored page, the captured record of its target, and each model's selectors."""

    page_url: str
    html: str = field(repr=False)
    expected: Mapping[str, Any]  # {"candidates": [{kind, selector}, ...], "fingerprint": {...}}
    predicted: Sequence[Sequence[Mapping[str, str]]]  # per model: [{kind, selector}, ...] best first


@dataclass(frozen=True)
class SnapshotVerdict:
    """`found`: the expected element could be resolved on the snapshot; `picks`: per model, right or not."""

    found: bool
    picks: tuple[bool, ...]


class _SnapshotTab:
    """One page that loads snapshots one after another: it serves the current snapshot at its URL and
    refuses every other request (opening a page costs far more than navigating one)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.url = ""
        self.html = ""

    async def open(self) -> None:
        await self.page.route("**/*", self._serve)

    async def _serve(self, route: Route) -> None:
        if route.request.url == self.url and route.request.resource_type == "document":
            await route.fulfill(
                status=200,
                content_type="text/html; charset=utf-8",
                body=self.html,
                headers={"Content-Security-Policy": "script-src 'none'", "Cache-Control": "no-store"},
            )
        else:
            await route.abort()

    async def check(self, case: SnapshotCase) -> SnapshotVerdict:
        self.url, self.html = urldefrag(case.page_url).url, case.html
        await self.page.goto(self.url, wait_until="domcontentloaded")
        result = await self.page.evaluate(
            CHECK_SCRIPT, {"expected": dict(case.expected), "predicted": [list(p) for p in case.predicted]}
        )
        return SnapshotVerdict(bool(result["found"]), tuple(bool(pick) for pick in result["picks"]))


async def _check_all(
    browser: Browser, generator: Path, cases: Sequence[SnapshotCase], timeout_ms: int
) -> list[SnapshotVerdict]:
    context = await browser.new_context()
    context.set_default_timeout(timeout_ms)
    verdicts: list[SnapshotVerdict | None] = [None] * len(cases)
    todo = list(enumerate(cases))
    try:
        await context.add_init_script(path=str(generator))

        async def work() -> None:
            tab = _SnapshotTab(await context.new_page())
            await tab.open()
            while todo:
                index, case = todo.pop()
                verdicts[index] = await tab.check(case)

        await asyncio.gather(*(work() for _ in range(min(TABS, len(cases)))))
    finally:
        await context.close()
    return [v for v in verdicts if v is not None]


async def check_on_snapshots(
    cases: Sequence[SnapshotCase],
    *,
    browser: Browser | None = None,
    settings: Settings | None = None,
) -> list[SnapshotVerdict]:
    """Check every case in headless Chromium (one browser, launched here unless passed in)."""
    if not cases:
        return []
    settings = settings or get_settings()
    generator = default_generator_path(settings)
    if not generator.is_file():
        raise FileNotFoundError(f"selector generator not found at {generator} (settings.extension_dir)")
    if browser is not None:
        return await _check_all(browser, generator, cases, settings.replay_timeout_ms)
    async with launch_browser(settings) as launched:
        verdicts = await _check_all(launched, generator, cases, settings.replay_timeout_ms)
    log.info("evaluation.dom_check", cases=len(cases), found=sum(v.found for v in verdicts))
    return verdicts
