"""The replay engine: load each page under each condition and evaluate every candidate in one round trip.

One browser (passed in or owned), one fresh context per page state so no state leaks between
cells, at most `concurrency` of them at once. A page state is a (condition, page) cell; for a
state that loads the stored DOM snapshot it is a (condition, page, snapshot) cell, since
targets on one page were captured at different moments. Input and output are plain data:
`ReplayTarget` in, `TargetOutcome` (lab.selectors) out.

Timing: each cell's replay time (context, generator injection, load, the one evaluate) is
measured on its own. With `bare_navigation=True` the same cells are also built in plain
contexts with no selector work at all, so benchmarks can compare the two passes fairly: an
untimed warm-up first loads every distinct page once (site server templates, browser start-up),
then the cells go in rounds, each round timed bare then with selector work or the other way
round, alternating, so warm caches and a shared machine's drifting load fall on both passes alike.
A round's clock stops when its last page state is built (and, in the replay pass, evaluated);
closing the contexts, and the benchmark's Playwright-locator baselines, come after it in both passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from lab.browser import CHROMIUM_ARGS, current_browser
from lab.config import Settings, get_settings
from lab.replay.conditions import VIEWPORTS, ConditionUnavailable, PageSource, ReplayCondition, state_spec
from lab.selectors.outcomes import Candidate, CandidateOutcome, TargetOutcome, TargetState

log = structlog.get_logger(__name__)
T = TypeVar("T")

BATCH_SCRIPT = (Path(__file__).with_name("batch.js")).read_text(encoding="utf-8")
# Parallel browser contexts; more gains little on one machine and starves the site server.
DEFAULT_CONCURRENCY = 4
# Cells per slot in one timed round when the bare pass is interleaved with the replay pass:
# long enough that a round's tail (slots idle while its last cells finish) stays small, short
# enough (seconds) that both passes see the same load on a machine shared with other jobs.
BARE_ROUND_CELLS_PER_SLOT = 4
# How long a page may take after load to create its click targets with its own scripts.
DEFAULT_SETTLE_MS = 3_000
# A page whose DOM has not changed for this long has finished building itself after load.
DEFAULT_QUIET_MS = 400
# Baseline selectors in Playwright's own syntax (a normalized locator) are evaluated through
# Playwright, not the generator's query engine; their candidates carry this engine name.
PLAYWRIGHT_ENGINE = "playwright"
PLAYWRIGHT_JUDGE = """(els, labId) => [els.length,
  els.length === 1 && labId !== null && els[0].getAttribute('data-lab-id') === labId]"""


class ReplayError(RuntimeError):
    """A page state could not be replayed; the message names the condition and URL."""


@dataclass(frozen=True)
class ReplayTarget:
    """One recorded click to replay: where it happened, its ranked candidates and fingerprint.

    `lab_id` is the ground truth on fixture sites (the target's `data-lab-id`); None elsewhere,
    and correctness is then judged by the fingerprint. `expect_present` is False when the
    target is gone on purpose in the replayed version (`removed_in`): finding nothing is right;
    `present_in_next_version` says the same for the next version (`next_version_url`).
    `snapshot_html` is the DOM stored when the record was made. `baselines` are other
    generators' selectors for the same element, judged beside ours (benchmarks only).
    `storage_state` (Playwright's cookies + local storage) is what the page was entered with,
    when known: replay contexts start from it.
    """

    click_id: str
    page_url: str
    candidates: tuple[Candidate, ...]
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    lab_id: str | None = None
    expect_present: bool = True
    snapshot_html: str | None = field(default=None, repr=False)
    next_version_url: str | None = None
    present_in_next_version: bool = True
    baselines: tuple[Candidate, ...] = ()
    storage_state: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def expected_in(self, condition: ReplayCondition) -> bool:
        """Whether the target should be on the page this condition loads."""
        return self.present_in_next_version if condition.loads == "next_version" else self.expect_present

    def to_script(self, condition: ReplayCondition) -> dict[str, Any]:
        return {
            "candidates": [c.to_wire() for c in self.candidates],
            "fingerprint": dict(self.fingerprint),
            "lab_id": self.lab_id,
            "expect_present": self.expected_in(condition),
            "baselines": [c.to_wire() for c in self.baselines if c.extra.get("engine") != PLAYWRIGHT_ENGINE],
        }


@dataclass(frozen=True)
class CellTiming:
    """Seconds one page state took with selector work (its share of a busy machine, so only
    comparable within one run)."""

    condition_id: str
    page_url: str
    replay_seconds: float


@dataclass(frozen=True)
class SkippedCell:
    """A page state that could not be built (ConditionUnavailable); its targets have no outcome there."""

    condition_id: str
    page_url: str
    reason: str


@dataclass(frozen=True)
class ReplayRun:
    """Everything one engine run produced, in target order then matrix order.

    `seconds` is the wall clock of the replay pass. With `bare_navigation`, the engine also
    builds every page state once with no generator and no evaluate, at the same concurrency,
    after an untimed warm-up and in rounds alternating with the replay pass (see the module
    docstring); `seconds` and `bare_navigation_seconds` are then each the sum of their
    rounds' wall clocks.
    """

    outcomes: list[TargetOutcome]
    page_states: int  # (condition, page) cells loaded
    evaluate_calls: int  # page.evaluate round trips; equals page_states by design
    seconds: float
    timings: list[CellTiming] = field(default_factory=list)
    skipped: list[SkippedCell] = field(default_factory=list)
    bare_navigation_seconds: float | None = None


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


@dataclass(frozen=True)
class PageStateCell:
    """One page state to build and judge: a condition, what to load, the targets on it."""

    condition: ReplayCondition
    source: PageSource
    targets: list[ReplayTarget]
    storage_state: Mapping[str, Any] | None = None


def plan_cells(targets: Sequence[ReplayTarget], matrix: Sequence[ReplayCondition]) -> list[PageStateCell]:
    """The page states to load: per condition, targets grouped by page and the storage it was
    entered with (and by stored snapshot for states that load it)."""
    cells: list[PageStateCell] = []
    for condition in matrix:
        groups: dict[tuple[str, str, str | None], list[ReplayTarget]] = {}
        for target in targets:
            snapshot = target.snapshot_html if condition.loads == "snapshot" else None
            storage = json.dumps(target.storage_state, sort_keys=True)
            groups.setdefault((target.page_url, storage, snapshot), []).append(target)
        for (url, _, snapshot), group in groups.items():
            source = PageSource(url, snapshot, group[0].next_version_url)
            cells.append(PageStateCell(condition, source, group, group[0].storage_state))
    return cells


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
        quiet_ms: int = DEFAULT_QUIET_MS,
    ) -> None:
        self.browser = browser
        self.generator_path = generator_path or default_generator_path()
        if not self.generator_path.is_file():
            raise FileNotFoundError(f"selector generator not found at {self.generator_path} (settings.extension_dir)")
        self.timeout_ms = timeout_ms if timeout_ms is not None else get_settings().replay_timeout_ms
        self.settle_ms = settle_ms
        self.quiet_ms = quiet_ms
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self.evaluate_calls = 0  # round trips made by this engine, for tests and benchmarks

    async def run(
        self, targets: Sequence[ReplayTarget], matrix: Sequence[ReplayCondition], *, bare_navigation: bool = False
    ) -> ReplayRun:
        """Replay every target under every condition; a failing page state raises ReplayError,
        one that cannot be built for a page (ConditionUnavailable) is skipped and listed."""
        click_ids = [t.click_id for t in targets]
        if len(set(click_ids)) != len(click_ids):
            raise ValueError("targets: click_id must be unique within one run")
        cells = plan_cells(targets, matrix)
        calls_before = self.evaluate_calls
        bare_seconds: float | None = None
        if bare_navigation:
            results, seconds, bare_seconds = await self._interleaved_passes(cells)
        else:
            started = time.perf_counter()
            results = await _gather(self._cell(cell) for cell in cells)
            seconds = time.perf_counter() - started
        found: dict[tuple[str, str], TargetOutcome] = {}
        timings: list[CellTiming] = []
        skipped: list[SkippedCell] = []
        for result in results:
            if isinstance(result, SkippedCell):
                skipped.append(result)
                continue
            cell_outcomes, timing = result
            timings.append(timing)
            found.update({(o.click_id, o.condition_id): o for o in cell_outcomes})
        outcomes = [found[(t.click_id, c.id)] for t in targets for c in matrix if (t.click_id, c.id) in found]
        log.info(
            "replay.run",
            targets=len(targets),
            conditions=len(matrix),
            page_states=len(timings),
            skipped=len(skipped),
            seconds=round(seconds, 2),
            bare_navigation_seconds=bare_seconds and round(bare_seconds, 2),
        )
        return ReplayRun(
            outcomes, len(timings), self.evaluate_calls - calls_before, seconds, timings, skipped, bare_seconds
        )

    async def _interleaved_passes(
        self, cells: Sequence[PageStateCell]
    ) -> tuple[list[tuple[list[TargetOutcome], CellTiming] | SkippedCell], float, float]:
        """The replay pass's results, its seconds and the bare pass's seconds, measured fairly:
        after an untimed warm-up, in rounds that alternate which pass goes first."""
        await self._warm_up(cells)
        size = max(1, self.concurrency * BARE_ROUND_CELLS_PER_SLOT)
        results: list[tuple[list[TargetOutcome], CellTiming] | SkippedCell] = []
        replay_seconds = bare_seconds = 0.0
        for number, start in enumerate(range(0, len(cells), size)):
            round_cells = cells[start : start + size]
            if number % 2 == 0:
                bare_seconds += await self._bare_pass(round_cells)
            started = time.perf_counter()
            judged = await _gather(self._judge_or_skip(cell) for cell in round_cells)
            replay_seconds += time.perf_counter() - started
            results += await _gather(self._finish_cell(j) for j in judged)
            if number % 2 == 1:
                bare_seconds += await self._bare_pass(round_cells)
        return results, replay_seconds, bare_seconds

    async def _warm_up(self, cells: Sequence[PageStateCell]) -> None:
        """Build one cell per distinct thing loaded (page URL, next-version URL, stored DOM's
        page), untimed, so neither timed pass pays first-load costs the other does not."""
        firsts: dict[tuple[str, str | None], PageStateCell] = {}
        for cell in cells:
            loads = cell.condition.loads
            loaded = cell.source.next_version_url if loads == "next_version" else cell.source.url
            firsts.setdefault((loads, loaded), cell)
        seconds = await self._bare_pass(list(firsts.values()))
        log.info("replay.warm_up", page_states=len(firsts), seconds=round(seconds, 2))

    async def _bare_pass(self, cells: Sequence[PageStateCell]) -> float:
        """Wall clock of building every page state once with no selector work (contexts closed after)."""
        started = time.perf_counter()

        async def bare(cell: PageStateCell) -> BrowserContext | None:
            async with self._slots:
                with contextlib.suppress(ConditionUnavailable):  # skipped in the replay pass too, and listed there
                    return await self._open_bare(cell.condition, cell.source, cell.storage_state)
            return None

        contexts = await _gather(bare(cell) for cell in cells)
        seconds = time.perf_counter() - started
        await _gather(context.close() for context in contexts if context is not None)
        return seconds

    async def _cell(self, cell: PageStateCell) -> tuple[list[TargetOutcome], CellTiming] | SkippedCell:
        return await self._finish_cell(await self._judge_or_skip(cell))

    async def _judge_or_skip(self, cell: PageStateCell) -> _Judged | SkippedCell:
        try:
            return await self._judge(cell)
        except ConditionUnavailable as why:
            return SkippedCell(cell.condition.id, cell.source.url, str(why))

    async def _finish_cell(self, judged: _Judged | SkippedCell) -> tuple[list[TargetOutcome], CellTiming] | SkippedCell:
        if isinstance(judged, SkippedCell):
            return judged
        outcomes = await self._finish(judged)
        return outcomes, CellTiming(judged.cell.condition.id, judged.cell.source.url, judged.seconds)

    async def evaluate_page_state(
        self, condition: ReplayCondition, page_url: str, targets: Sequence[ReplayTarget]
    ) -> list[TargetOutcome]:
        """Load `page_url` under `condition` in a fresh context and judge all targets in one evaluate."""
        first = targets[0] if targets else None
        source = PageSource(
            page_url,
            first.snapshot_html if first is not None and condition.loads == "snapshot" else None,
            first.next_version_url if first is not None else None,
        )
        storage = first.storage_state if first is not None else None
        outcomes, _ = await self._evaluate(PageStateCell(condition, source, list(targets), storage))
        return outcomes

    async def _new_context(
        self, condition: ReplayCondition, storage_state: Mapping[str, Any] | None = None
    ) -> BrowserContext:
        options = VIEWPORTS[condition.viewport].context_options()
        if storage_state is not None:
            options["storage_state"] = storage_state
        context = await self.browser.new_context(**options)
        context.set_default_timeout(self.timeout_ms)
        return context

    async def navigate_bare(
        self, condition: ReplayCondition, source: PageSource, storage_state: Mapping[str, Any] | None = None
    ) -> float:
        """Seconds to build this page state with no selector work (no generator, no evaluate)."""
        started = time.perf_counter()
        context = await self._open_bare(condition, source, storage_state)
        seconds = time.perf_counter() - started
        await context.close()
        return seconds

    async def _open_bare(
        self, condition: ReplayCondition, source: PageSource, storage_state: Mapping[str, Any] | None
    ) -> BrowserContext:
        """A fresh context with this page state built in it and nothing else done; the caller closes it."""
        context = await self._new_context(condition, storage_state)
        try:
            await state_spec(condition.state).open(context, source)
        except ConditionUnavailable:
            await context.close()
            raise
        except Exception as exc:
            await context.close()
            raise ReplayError(f"bare load of {source.url} under {condition.id} failed: {exc}") from exc
        return context

    async def _evaluate(self, cell: PageStateCell) -> tuple[list[TargetOutcome], float]:
        """Judge the cell (`_judge`), then finish it (`_finish`): outcomes and the timed seconds."""
        judged = await self._judge(cell)
        return await self._finish(judged), judged.seconds

    async def _judge(self, cell: PageStateCell) -> _Judged:
        """Build the cell's page state and judge every target in one evaluate, holding a slot; the
        context stays open for `_finish`."""
        condition, source, targets = cell.condition, cell.source, cell.targets
        context: BrowserContext | None = None
        try:
            async with self._slots:
                started = time.perf_counter()
                context = await self._new_context(condition, cell.storage_state)
                # An init script reaches every frame before the page's own scripts, and bypasses CSP.
                await context.add_init_script(path=self.generator_path)
                page = await state_spec(condition.state).open(context, source)
                self.evaluate_calls += 1
                raw = await page.evaluate(
                    BATCH_SCRIPT,
                    {
                        "targets": [t.to_script(condition) for t in targets],
                        "settleMs": self.settle_ms,
                        "quietMs": self.quiet_ms,
                    },
                )
                seconds = time.perf_counter() - started
        except BaseException as exc:  # cancellation included: the context is closed either way
            if context is not None:
                await context.close()
            if isinstance(exc, Exception) and not isinstance(exc, ConditionUnavailable):
                raise ReplayError(f"replay of {source.url} under {condition.id} failed: {exc}") from exc
            raise
        return _Judged(cell, context, page, raw, seconds)

    async def _finish(self, judged: _Judged) -> list[TargetOutcome]:
        """Out of the timed section: evaluate Playwright-syntax baselines through Playwright (benchmarks),
        close the context, and turn the raw results into outcomes."""
        cell = judged.cell
        try:
            playwright_baselines = [await _playwright_baselines(judged.page, t) for t in cell.targets]
        except Exception as exc:
            raise ReplayError(f"replay of {cell.source.url} under {cell.condition.id} failed: {exc}") from exc
        finally:
            await judged.context.close()
        return [
            _target_outcome(t, cell.condition, r, extra)
            for t, r, extra in zip(cell.targets, judged.raw, playwright_baselines, strict=True)
        ]


@dataclass
class _Judged:
    """A cell whose evaluate has run: its context is still open for the untimed finish."""

    cell: PageStateCell
    context: BrowserContext
    page: Page
    raw: list[dict[str, Any]]
    seconds: float


async def _run(job: Awaitable[T]) -> T:
    return await job


async def _gather(jobs: Iterable[Awaitable[T]]) -> list[T]:
    """Run `jobs` concurrently; the first failure cancels the rest and is raised as itself."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks.extend(group.create_task(_run(job)) for job in jobs)
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from failures
    return [task.result() for task in tasks]


async def _playwright_baselines(page: Page, target: ReplayTarget) -> dict[int, dict[str, Any]]:
    """Raw outcomes of the target's Playwright-syntax baselines, by index in `target.baselines`."""
    out: dict[int, dict[str, Any]] = {}
    for index, candidate in enumerate(target.baselines):
        if candidate.extra.get("engine") != PLAYWRIGHT_ENGINE:
            continue
        try:
            count, correct = await page.locator(candidate.selector).evaluate_all(PLAYWRIGHT_JUDGE, target.lab_id)
            out[index] = {"index": index, "matched_count": count, "correct": correct, "error": None}
        except Exception as exc:  # an unparsable or stale locator matches nothing; the error is kept
            out[index] = {"index": index, "matched_count": 0, "correct": False, "error": str(exc).splitlines()[0]}
    return out


def _target_outcome(
    target: ReplayTarget,
    condition: ReplayCondition,
    raw: Mapping[str, Any],
    playwright_baselines: Mapping[int, Mapping[str, Any]],
) -> TargetOutcome:
    state = _target_state(target.expected_in(condition), raw["target_found"])

    def outcome(c: Mapping[str, Any], kind: str) -> CandidateOutcome:
        return CandidateOutcome(
            click_id=target.click_id,
            candidate_index=int(c["index"]),
            kind=kind,
            condition_id=condition.id,
            matched_count=int(c["matched_count"]),
            correct=bool(c["correct"]),
            target=state,
            error=c["error"],
        )

    in_page = iter(raw["baselines"])
    baselines = []
    for index, candidate in enumerate(target.baselines):
        raw_baseline = playwright_baselines.get(index) or {**next(in_page), "index": index}
        baselines.append(outcome(raw_baseline, candidate.kind))
    return TargetOutcome(
        click_id=target.click_id,
        condition_id=condition.id,
        page_url=target.page_url,
        target=state,
        resolved_correct=bool(raw["resolved_correct"]),
        fingerprint_correct=None if raw["fingerprint_correct"] is None else bool(raw["fingerprint_correct"]),
        candidates=tuple(outcome(c, target.candidates[int(c["index"])].kind) for c in raw["candidates"]),
        pick=raw["pick"],
        baselines=tuple(baselines),
        picked_via=raw["pick_via"],
    )


def _target_state(expected: bool, found: bool | None) -> TargetState:
    if found:
        return "present"
    if not expected:
        return "removed"
    return "unreproduced" if found is False else "unknown"


async def replay(
    targets: Sequence[ReplayTarget],
    matrix: Sequence[ReplayCondition],
    *,
    browser: Browser | None = None,
    generator_path: Path | None = None,
) -> ReplayRun:
    """Run the engine once, in `browser`, else in the process's shared browser when the caller set
    one (lab.browser.using_browser), else in a browser launched (and closed) for this call."""
    shared = current_browser()
    if browser is None and shared is not None:
        browser = await shared.get()
    if browser is not None:
        return await ReplayEngine(browser, generator_path=generator_path).run(targets, matrix)
    async with launch_browser() as owned:
        return await ReplayEngine(owned, generator_path=generator_path).run(targets, matrix)
