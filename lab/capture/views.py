"""Read models of sessions for the API and the dashboard: plain data out of SQL."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import (
    Event,
    PipelineStep,
    ReplayResult,
    Screenshot,
    SelectorCandidate,
    Session,
    TrainingExample,
)

PIPELINE_STEPS = ("replay", "quality", "training", "archive")


@dataclass
class SessionRow:
    id: uuid.UUID
    mode: str
    site: str
    site_version: str | None
    status: str
    started_at: datetime
    ended_at: datetime | None
    quality_score: float | None
    steps: dict[str, str]
    event_count: int = 0
    review_status: str = "pending"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "mode": self.mode,
            "site": self.site,
            "site_version": self.site_version,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "quality_score": self.quality_score,
            "steps": self.steps,
            "event_count": self.event_count,
            "review_status": self.review_status,
        }


@dataclass
class CandidateView:
    rank: int
    kind: str
    value: str
    score: float
    reliability: float | None
    conditions: dict[str, tuple[int, bool]] = field(default_factory=dict)


@dataclass
class ClickView:
    seq: int
    url: str
    target: dict[str, Any]
    candidates: list[CandidateView]
    screenshot_id: uuid.UUID | None


def _row(session: Session, steps: dict[str, str], event_count: int = 0) -> SessionRow:
    ordered = {
        name: steps.get(name, "pending" if session.status != "recording" else "waiting") for name in PIPELINE_STEPS
    }
    return SessionRow(
        id=session.id,
        mode=session.mode,
        site=session.site,
        site_version=session.site_version,
        status=session.status,
        started_at=session.started_at,
        ended_at=session.ended_at,
        quality_score=session.quality_score,
        steps=ordered,
        event_count=event_count,
        review_status=session.review_status,
    )


async def list_sessions(s: AsyncSession, limit: int = 50) -> list[SessionRow]:
    sessions = list((await s.exec(select(Session).order_by(col(Session.started_at).desc()).limit(limit))).all())
    ids = [x.id for x in sessions]
    steps: dict[uuid.UUID, dict[str, str]] = {i: {} for i in ids}
    counts: dict[uuid.UUID, int] = {}
    if ids:
        for step in (await s.exec(select(PipelineStep).where(col(PipelineStep.session_id).in_(ids)))).all():
            steps[step.session_id][step.step] = step.status
        count_rows = await s.exec(
            select(Event.session_id, func.count()).where(col(Event.session_id).in_(ids)).group_by(col(Event.session_id))
        )
        counts = {sid: n for sid, n in count_rows.all()}
    return [_row(x, steps[x.id], counts.get(x.id, 0)) for x in sessions]


async def session_row(s: AsyncSession, session: Session) -> SessionRow:
    steps = {
        p.step: p.status
        for p in (await s.exec(select(PipelineStep).where(PipelineStep.session_id == session.id))).all()
    }
    count = (await s.exec(select(func.count()).select_from(Event).where(Event.session_id == session.id))).one()
    return _row(session, steps, count)


async def step_details(s: AsyncSession, session_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = (await s.exec(select(PipelineStep).where(PipelineStep.session_id == session_id))).all()
    by_step = {r.step: r for r in rows}
    out = []
    for name in PIPELINE_STEPS:
        r = by_step.get(name)
        out.append(
            {
                "step": name,
                "status": r.status if r else "pending",
                "attempts": r.attempts if r else 0,
                "last_error": r.last_error if r else None,
                "updated_at": r.updated_at.isoformat() if r else None,
            }
        )
    return out


async def session_clicks(s: AsyncSession, session_id: uuid.UUID) -> list[ClickView]:
    """Every click with its ranked candidates, their reliability and per-condition results."""
    events = (
        await s.exec(
            select(Event).where(Event.session_id == session_id, Event.type == "click").order_by(col(Event.seq))
        )
    ).all()
    event_ids = [e.id for e in events]
    candidates = (
        await s.exec(
            select(SelectorCandidate)
            .where(col(SelectorCandidate.event_id).in_(event_ids))
            .order_by(col(SelectorCandidate.event_id), col(SelectorCandidate.rank))
        )
    ).all()
    cand_ids = [c.id for c in candidates]
    results = (await s.exec(select(ReplayResult).where(col(ReplayResult.candidate_id).in_(cand_ids)))).all()
    by_candidate: dict[int, dict[str, tuple[int, bool]]] = {}
    for r in results:
        by_candidate.setdefault(r.candidate_id, {})[r.condition] = (r.matched_count, r.correct)
    shots = (
        await s.exec(select(Screenshot).where(Screenshot.session_id == session_id, Screenshot.reason == "click"))
    ).all()
    shot_by_seq = {x.for_seq: x.id for x in shots}
    views: dict[int, list[CandidateView]] = {}
    for c in candidates:
        assert c.id is not None
        views.setdefault(c.event_id, []).append(
            CandidateView(c.rank, c.kind, c.value, c.score, c.reliability, by_candidate.get(c.id, {}))
        )
    return [
        ClickView(
            seq=e.seq,
            url=e.url,
            target=dict(e.payload.get("target", {})),
            candidates=views.get(e.id or -1, []),
            screenshot_id=shot_by_seq.get(e.seq),
        )
        for e in events
    ]


async def session_screenshots(s: AsyncSession, session_id: uuid.UUID) -> list[Screenshot]:
    return list(
        (
            await s.exec(
                select(Screenshot).where(Screenshot.session_id == session_id).order_by(col(Screenshot.for_seq))
            )
        ).all()
    )


async def training_jsonl(s: AsyncSession, session_id: uuid.UUID) -> str:
    rows = (
        await s.exec(
            select(TrainingExample)
            .where(TrainingExample.session_id == session_id)
            .order_by(col(TrainingExample.event_id))
        )
    ).all()
    return "".join(json.dumps(r.body, separators=(",", ":")) + "\n" for r in rows)
