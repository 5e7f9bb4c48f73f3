"""Replay one stored session: the database edge around the engine and the scoring.

Reads the session's clicks and their candidates, replays them over the matrix, writes one
ReplayResult per (candidate, condition), one ReplayVerdict per (click, condition) (what
`resolve` picked and whether it was right) and each candidate's reliability, and returns a
plain summary for the session quality step (per kind and per condition). Any registered
state may be in the matrix (settings.replay_states): `next_version` loads the next version of
a fixture site the session was recorded on; a state whose source a session lacks (no stored
DOM snapshot, a real site with no next version) is skipped and listed, and writes no rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from playwright.async_api import Browser
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from lab.db.engine import Database
from lab.db.models import Event, ReplayResult, ReplayVerdict, SelectorCandidate, Session, utcnow
from lab.monitoring import metrics
from lab.replay.conditions import ReplayCondition
from lab.replay.engine import ReplayRun, ReplayTarget, replay
from lab.replay.urls import url_mapper_for_site
from lab.selectors.outcomes import Candidate, TargetOutcome
from lab.selectors.reliability import (
    KindReliability,
    candidate_kinds,
    candidate_reliability,
    kind_reliability,
    mean_reliability,
    top1_rate,
    verdict_outcome,
)

log = structlog.get_logger(__name__)

# Rows per INSERT: 5 to 7 columns each stays far below asyncpg's limit of 32,767 bind parameters per statement.
ROWS_PER_STATEMENT = 2_000
# What a second replay of the same session overwrites in a (click, condition)'s verdict.
VERDICT_COLUMNS = ("pick", "candidate_id", "target", "outcome", "created_at")


@dataclass(frozen=True)
class ReplaySummary:
    """What replaying one session found; rates are None when nothing could be judged."""

    session_id: uuid.UUID
    clicks: int  # click events replayed (those with at least one candidate)
    conditions: list[str]  # condition ids, e.g. ["mobile/fresh", "mobile/reload", ...]
    candidates: int
    mean_reliability: float | None  # mean over judged candidates
    top1_correct_rate: float | None  # share of judged (click, condition) pairs where replay's pick was right
    kind_reliability: dict[str, KindReliability]
    results_written: int  # ReplayResult rows inserted or updated
    verdicts_written: int  # ReplayVerdict rows (one per replayed click and condition) inserted or updated
    seconds: float  # engine time (browser work), without the database
    condition_top1: dict[str, float | None] = field(default_factory=dict)  # top-1 rate per condition id
    skipped: list[str] = field(default_factory=list)  # "condition url: reason" of page states not built


def lab_id_of(payload: Mapping[str, Any]) -> str | None:
    """The ground-truth `data-lab-id` a scripted collector attached to a click, if any.

    The generator never reads `data-lab-*`; a driver that follows a fixture journey knows the
    target and may send it beside the wire fields, as `lab_id` or `target.lab_id`.
    """
    target = payload.get("target")
    value = payload.get("lab_id") or (target.get("lab_id") if isinstance(target, Mapping) else None)
    return value if isinstance(value, str) and value else None


def candidates_of(payload: Mapping[str, Any], rows: Sequence[SelectorCandidate]) -> tuple[Candidate, ...]:
    """The stored candidates in rank order, with any extra wire fields (`unique`) from the payload."""
    recorded = (payload.get("selectors") or {}).get("candidates") or []
    out = []
    for row in rows:
        raw = recorded[row.rank] if row.rank < len(recorded) else {}
        extra = {k: v for k, v in raw.items() if k not in ("kind", "selector", "score")}
        out.append(Candidate(row.kind, row.value, row.score, extra if raw.get("selector") == row.value else {}))
    return tuple(out)


def verdict_row(target: TargetOutcome, candidate_ids: Mapping[tuple[str, int], int]) -> dict[str, Any]:
    """The ReplayVerdict row of one click under one condition; `candidate_ids` by (click id, rank)."""
    via = target.picked_via
    return {
        "event_id": int(target.click_id),
        "condition": target.condition_id,
        "pick": "none" if via is None else "fingerprint" if via == "fingerprint" else "candidate",
        "candidate_id": candidate_ids[(target.click_id, via)] if isinstance(via, int) else None,
        "target": target.target,
        "outcome": verdict_outcome(target),
        "created_at": utcnow(),
    }


async def replay_session(
    db: Database,
    session_id: uuid.UUID,
    matrix: Sequence[ReplayCondition],
    *,
    browser: Browser | None = None,
    generator_path: Path | None = None,
    sites_dirs: Iterable[Path] | None = None,
) -> ReplaySummary:
    """Replay every click of a session over `matrix` and store results and reliabilities.

    A session recorded on a site folder found in `sites_dirs` (settings.sites_dirs by default)
    is replayed on a freshly served copy of it."""
    async with db.session() as s:
        session = await s.get(Session, session_id)
        if session is None:
            raise LookupError(f"session {session_id} does not exist")
        site = session.site
        clicks = (
            await s.exec(
                select(Event).where(Event.session_id == session_id, Event.type == "click").order_by(col(Event.seq))
            )
        ).all()
        rows = (
            await s.exec(
                select(SelectorCandidate)
                .where(col(SelectorCandidate.event_id).in_([e.id for e in clicks]))
                .order_by(col(SelectorCandidate.event_id), col(SelectorCandidate.rank))
            )
        ).all()
    candidates_by_event: dict[int, list[SelectorCandidate]] = {}
    for row in rows:
        candidates_by_event.setdefault(row.event_id, []).append(row)

    async with url_mapper_for_site(site, sites_dirs) as mapper:
        targets = [
            ReplayTarget(
                click_id=str(event.id),
                page_url=mapper.map(event.url),
                candidates=candidates_of(event.payload, candidates_by_event[event.id]),
                fingerprint=(event.payload.get("selectors") or {}).get("fingerprint") or {},
                lab_id=lab_id_of(event.payload),
                next_version_url=mapper.next_version(event.url),
            )
            for event in clicks
            if event.id is not None and event.id in candidates_by_event
        ]
        if targets:
            run = await replay(targets, matrix, browser=browser, generator_path=generator_path)
        else:
            run = ReplayRun([], 0, 0, 0.0)

    row_ids = {(str(r.event_id), r.rank): r.id for r in rows if r.id is not None}
    reliabilities = candidate_reliability(run.outcomes)
    results = [
        {
            "candidate_id": row_ids[(o.click_id, o.candidate_index)],
            "condition": o.condition_id,
            "matched_count": o.matched_count,
            "correct": o.correct,
            "created_at": utcnow(),
        }
        for target in run.outcomes
        for o in target.candidates
    ]
    verdicts = [verdict_row(target, row_ids) for target in run.outcomes]
    async with db.session() as s:
        for start in range(0, len(results), ROWS_PER_STATEMENT):
            stmt = insert(ReplayResult).values(results[start : start + ROWS_PER_STATEMENT])
            await s.exec(
                stmt.on_conflict_do_update(
                    constraint="uq_replay_candidate_condition",
                    set_={
                        "matched_count": stmt.excluded.matched_count,
                        "correct": stmt.excluded.correct,
                        "created_at": stmt.excluded.created_at,
                    },
                )
            )
        for start in range(0, len(verdicts), ROWS_PER_STATEMENT):
            stmt = insert(ReplayVerdict).values(verdicts[start : start + ROWS_PER_STATEMENT])
            await s.exec(
                stmt.on_conflict_do_update(
                    constraint="uq_replay_verdict_event_condition",
                    set_={name: stmt.excluded[name] for name in VERDICT_COLUMNS},
                )
            )
        if reliabilities:
            await s.exec(
                update(SelectorCandidate),
                params=[{"id": row_ids[key], "reliability": value} for key, value in reliabilities.items()],
            )

    summary = ReplaySummary(
        session_id=session_id,
        clicks=len(targets),
        conditions=[c.id for c in matrix],
        candidates=sum(len(t.candidates) for t in targets),
        mean_reliability=mean_reliability(reliabilities),
        top1_correct_rate=top1_rate(run.outcomes),
        kind_reliability=kind_reliability(reliabilities, candidate_kinds(run.outcomes)),
        results_written=len(results),
        verdicts_written=len(verdicts),
        seconds=run.seconds,
        condition_top1={c.id: top1_rate(o for o in run.outcomes if o.condition_id == c.id) for c in matrix},
        skipped=[f"{s.condition_id} {s.page_url}: {s.reason}" for s in run.skipped],
    )
    metrics.count_replay_conditions(
        (t.condition_id for t in run.timings),
        (s.condition_id for s in run.skipped),
        ((v["condition"], v["outcome"]) for v in verdicts),
    )
    log.info(
        "replay.session",
        session_id=str(session_id),
        clicks=summary.clicks,
        conditions=summary.conditions,
        mean_reliability=summary.mean_reliability,
        top1_correct_rate=summary.top1_correct_rate,
        seconds=round(run.seconds, 2),
    )
    return summary
