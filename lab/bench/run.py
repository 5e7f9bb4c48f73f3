"""`codesight bench selectors`: generate on every site's first version, replay over the matrix, report.

For every site folder found: serve it, walk its journey on its first version with the
generator and the baselines injected (every step's target: clicks, fills, selects, scrolls),
then replay all targets of all sites in one engine run over the condition matrix, each page
state also loaded bare for the overhead figure. The figures are lab.bench.figures'.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog
from playwright.async_api import Browser

from lab.bench.baselines import in_page_script, make_baselines
from lab.bench.figures import benchmark_figures
from lab.replay.conditions import ReplayCondition
from lab.replay.engine import DEFAULT_CONCURRENCY, CellTiming, ReplayEngine, ReplayTarget, launch_browser
from lab.replay.journey import JourneyWalk, walk_journey
from lab.sites import JOURNEY_ACTIONS, Site, discover_sites, serve_site

log = structlog.get_logger(__name__)

# Journeys walked at once: each is one page driven step by step, light next to replay.
WALK_CONCURRENCY = 3


@dataclass(frozen=True)
class SiteTargets:
    """One site's generated targets, click ids prefixed with the site name."""

    site: str
    targets: list[ReplayTarget]
    skipped: list[str]
    error: str | None = None  # the walk failed (a broken or unfinished site folder): no targets


async def _walk_site(
    browser: Browser, site: Site, base_url: str, baseline_script: str, slots: asyncio.Semaphore
) -> SiteTargets:
    async with slots:
        try:
            walk: JourneyWalk = await walk_journey(
                browser,
                site,
                base_url,
                site.versions[0],
                annotate=make_baselines,
                init_scripts=[baseline_script],
                actions=JOURNEY_ACTIONS,
            )
        except Exception as exc:  # one broken site must not hide the others' figures; it is reported
            log.exception("bench.walk_failed", site=site.name)
            return SiteTargets(site.name, [], [], f"{type(exc).__name__}: {exc}")
    targets = [replace(t, click_id=f"{site.name}/{t.click_id}") for t in walk.targets]
    return SiteTargets(site.name, targets, walk.skipped_in_frames)


def _per_condition_seconds(timings: Iterable[CellTiming]) -> dict[str, float]:
    """Summed page-state seconds per condition (shares of a busy machine: compare within a run)."""
    out: dict[str, float] = {}
    for timing in timings:
        out[timing.condition_id] = out.get(timing.condition_id, 0.0) + timing.replay_seconds
    return out


async def run_selector_bench(
    sites_dirs: Iterable[Path],
    matrix: Sequence[ReplayCondition],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    browser: Browser | None = None,
) -> dict[str, Any]:
    """Run the benchmark on every site in `sites_dirs` and return the report (see lab.bench.figures)."""
    started = time.perf_counter()
    sites = discover_sites(sites_dirs)
    if not sites:
        raise LookupError(f"no site folders (with site.json) in {', '.join(map(str, sites_dirs))}")
    baseline_script = in_page_script()
    async with AsyncExitStack() as stack:
        if browser is None:
            browser = await stack.enter_async_context(launch_browser())
        bases = {name: await stack.enter_async_context(serve_site(site, port=0)) for name, site in sites.items()}
        slots = asyncio.Semaphore(WALK_CONCURRENCY)
        walked = await asyncio.gather(
            *(_walk_site(browser, site, bases[name], baseline_script, slots) for name, site in sites.items())
        )
        generated = time.perf_counter()
        targets = [t for site in walked for t in site.targets]
        engine = ReplayEngine(browser, concurrency=concurrency)
        run = await engine.run(targets, matrix, bare_navigation=True)
    site_of = {t.click_id: site.site for site in walked for t in site.targets}
    report = benchmark_figures(
        run.outcomes,
        conditions=[c.id for c in matrix],
        clicks=len(targets),
        site_of=site_of,
        replay_seconds=run.seconds,
        bare_navigation_seconds=run.bare_navigation_seconds,
    )
    states = [o.target for o in run.outcomes]
    report["counts"] = {
        "sites": len(sites),
        "targets_per_site": {site.site: len(site.targets) for site in walked},
        "cells": len(states),
        **{f"{state}_cells": states.count(state) for state in ("present", "removed", "unreproduced", "unknown")},
        "page_states": run.page_states,
        "evaluate_calls": run.evaluate_calls,
        "skipped_page_states": [f"{s.condition_id} {s.page_url}: {s.reason}" for s in run.skipped],
        "skipped_targets_in_frames": {site.site: site.skipped for site in walked if site.skipped},
        "failed_sites": {site.site: site.error for site in walked if site.error},
    }
    report["timing"] = {
        "generate_wall_seconds": generated - started,
        "replay_page_state_seconds": _per_condition_seconds(run.timings),
        "total_wall_seconds": time.perf_counter() - started,
        "concurrency": concurrency,
    }
    log.info("bench.selectors", sites=len(sites), targets=len(targets), seconds=report["timing"]["total_wall_seconds"])
    return report
