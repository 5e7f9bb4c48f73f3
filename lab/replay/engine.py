"""The replay engine: load each page under each condition and evaluate every candidate in one round trip.

One browser (passed in or owned), one fresh context per (condition, page) so no state leaks
between cells, at most `concurrency` of them at once. Input and output are plain data:
`ReplayTarget` in, `TargetOutcome` (lab.selectors) out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from playwright.async_api import Browser, async_playwright

from lab.config import Settings, get_settings
from lab.replay.conditions import VIEWPORTS, ReplayCondition, page_state
from lab.selectors.outcomes import Candidate, CandidateOutcome, TargetOutcome, TargetState

log = structlog.get_logger(__name__)

BATCH_SCRIPT = (Path(__file__).with_name("batch.js")).read_text(encoding="utf-8")
# Chromium flags for a quiet headless replay browser (no sandbox inside containers).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# Parallel browser contexts; more gains little on one machine and starves the site server.
DEFAULT_CONCURRENCY = 4
# How long a page may take after load to create its click targets with its own scripts.
DEFAULT_SETTLE_MS = 2_000


class ReplayError(RuntimeError):
    """A page state could not be replayed; the message names the condition and URL."""


@dataclass(frozen=True)
class ReplayTarget:
    """One recorded click to replay: where it happened, its ranked candidates and fingerprint.

    `lab_id` is the ground truth on fixture sites (the target's `data-lab-id`); None elsewhere,
    and correctness is then judged by the fingerprint. `expect_present` is False when the
    target is gone on purpose in the replayed version (`removed_in`): finding nothing is right.
    """

    click_id: str
    page_url: str
    candidates: tuple[Candidate, ...]
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    lab_id: str | None = None
    expect_present: bool = True

    def to_script(self) -> dict[str, Any]:
        return {
            "candidates": [c.to_wire() for c in self.candidates],
            "fingerprint": dict(self.fingerprint),
            "lab_id": self.lab_id,
            "expect_present": self.expect_present,
        }


@dataclass(frozen=True)
class ReplayRun:
    """Everything one engine run produced, in target order then matrix order."""

    outcomes: list[TargetOutcome]
    page_states: int  # (condition, page) cells loaded
    evaluate_calls: int  # page.evaluate round trips; equals page_states by design
    seconds: float


def default_generator_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).extension_dir / "generator.js"


@asynccontextmanager
async def launch_browser(settings: Settings | None = None) -> AsyncIterator[Browser]:
    """Debian's Chromium under Playwright, headless, for as long as the block runs."""
    settings = settings or get_settings()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(settings.chromium_path), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class ReplayEngine:
    """Evaluates click targets over a condition matrix in one shared browser."""

    def __init__(
        self,
        browser: Browser,
        *,
        generator_path: Path | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout_ms: int | None = None,
        settle_ms: int = DEFAULT_SETTLE_MS,
    ) -> None:
        self.browser = browser
        self.generator_path = generator_path or default_generator_path()
        if not self.generator_path.is_file():
            raise FileNotFoundError(f"selector generator not found at {self.generator_path} (settings.extension_dir)")
        self.timeout_ms = timeout_ms if timeout_ms is not None else get_settings().replay_timeout_ms
        self.settle_ms = settle_ms
        self._slots = asyncio.Semaphore(concurrency)
        self.evaluate_calls = 0  # round trips made by this engine, for tests and benchmarks

    async def run(self, targets: Sequence[ReplayTarget], matrix: Sequence[ReplayCondition]) -> ReplayRun:
        """Replay every target under every condition; a failing page state raises ReplayError."""
        click_ids = [t.click_id for t in targets]
        if len(set(click_ids)) != len(click_ids):
            raise ValueError("targets: click_id must be unique within one run")
        started = time.perf_counter()
        calls_before = self.evaluate_calls
        by_page: dict[str, list[ReplayTarget]] = {}
        for target in targets:
            by_page.setdefault(target.page_url, []).append(target)
        cells = [(condition, url, page_targets) for condition in matrix for url, page_targets in by_page.items()]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.evaluate_page_state(c, url, ts)) for c, url, ts in cells]
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from failures
        found = {(o.click_id, o.condition_id): o for task in tasks for o in task.result()}
        outcomes = [found[(t.click_id, c.id)] for t in targets for c in matrix]
        seconds = time.perf_counter() - started
        log.info("replay.run", targets=len(targets), conditions=len(matrix), page_states=len(cells), seconds=seconds)
        return ReplayRun(outcomes, len(cells), self.evaluate_calls - calls_before, seconds)

    async def evaluate_page_state(
        self, condition: ReplayCondition, page_url: str, targets: Sequence[ReplayTarget]
    ) -> list[TargetOutcome]:
        """Load `page_url` under `condition` in a fresh context and judge all targets in one evaluate."""
        state = page_state(condition.state)
        async with self._slots:
            context = await self.browser.new_context(**VIEWPORTS[condition.viewport].context_options())
            try:
                context.set_default_timeout(self.timeout_ms)
                # An init script reaches every frame before the page's own scripts, and bypasses CSP.
                await context.add_init_script(path=self.generator_path)
                page = await state(context, page_url)
                self.evaluate_calls += 1
                raw = await page.evaluate(
                    BATCH_SCRIPT, {"targets": [t.to_script() for t in targets], "settleMs": self.settle_ms}
                )
            except Exception as exc:
                raise ReplayError(f"replay of {page_url} under {condition.id} failed: {exc}") from exc
            finally:
                await context.close()
        return [_target_outcome(t, condition, r) for t, r in zip(targets, raw, strict=True)]


def _target_outcome(target: ReplayTarget, condition: ReplayCondition, raw: Mapping[str, Any]) -> TargetOutcome:
    state = _target_state(target, raw["target_found"])
    return TargetOutcome(
        click_id=target.click_id,
        condition_id=condition.id,
        page_url=target.page_url,
        target=state,
        resolved_correct=bool(raw["resolved_correct"]),
        fingerprint_correct=bool(raw["fingerprint_correct"]),
        candidates=tuple(
            CandidateOutcome(
                click_id=target.click_id,
                candidate_index=int(c["index"]),
                kind=target.candidates[int(c["index"])].kind,
                condition_id=condition.id,
                matched_count=int(c["matched_count"]),
                correct=bool(c["correct"]),
                target=state,
                error=c["error"],
            )
            for c in raw["candidates"]
        ),
    )


def _target_state(target: ReplayTarget, found: bool | None) -> TargetState:
    if found:
        return "present"
    if not target.expect_present:
        return "removed"
    return "unreproduced" if found is False else "unknown"


async def replay(
    targets: Sequence[ReplayTarget],
    matrix: Sequence[ReplayCondition],
    *,
    browser: Browser | None = None,
    generator_path: Path | None = None,
) -> ReplayRun:
    """Run the engine once, in `browser` or in a browser launched (and closed) for this call."""
    if browser is not None:
        return await ReplayEngine(browser, generator_path=generator_path).run(targets, matrix)
    async with launch_browser() as owned:
        return await ReplayEngine(owned, generator_path=generator_path).run(targets, matrix)
