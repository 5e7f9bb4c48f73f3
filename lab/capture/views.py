"""Read models of sessions for the API and the dashboard: plain data out of SQL."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import tuple_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import (
    REVIEW_STATUSES,
    SESSION_MODES,
    SESSION_STATUSES,
    Event,
    PipelineStep,
    ReplayResult,
    ReplayVerdict,
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


@dataclass(frozen=True)
class PickView:
    """What replay picked for one click under one condition (lab.db.models.ReplayVerdict)."""

    pick: str  # candidate | fingerprint | none
    rank: int | None  # the picked candidate's rank, when a candidate picked
    outcome: str  # correct | wrong | abstained | target_absent | unknown


@dataclass
class ClickView:
    seq: int
    url: str
    target: dict[str, Any]
    candidates: list[CandidateView]
    screenshot_id: uuid.UUID | None
    picks: dict[str, PickView] = field(default_factory=dict)  # by condition id


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


MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions a list shows; None means any. `check` names the first field that is wrong."""

    site: str | None = None
    mode: str | None = None
    status: str | None = None
    review: str | None = None

    def check(self) -> None:
        for name, value, allowed in (
            ("mode", self.mode, SESSION_MODES),
            ("status", self.status, SESSION_STATUSES),
            ("review", self.review, REVIEW_STATUSES),
        ):
            if value is not None and value not in allowed:
                raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")

    def where(self) -> list[Any]:
        columns = {"site": Session.site, "mode": Session.mode, "status": Session.status}
        columns["review"] = Session.review_status
        return [col(column) == value for name, column in columns.items() if (value := getattr(self, name)) is not None]

    def query(self) -> dict[str, str]:
        """The filter as URL query parameters (the ones set)."""
        return {name: value for name in ("site", "mode", "status", "review") if (value := getattr(self, name))}


@dataclass(frozen=True)
class SessionPage:
    rows: list[SessionRow]
    # Pass as `before` for the next (older) page; None on the last page.
    next_before: uuid.UUID | None


async def list_sessions(
    s: AsyncSession, limit: int = 50, filters: SessionFilter | None = None, before: uuid.UUID | None = None
) -> SessionPage:
    """The newest sessions matching `filters`, `limit` at a time; `before` (a session id) continues a
    list after that session (keyset pagination over (started_at, id): stable while sessions arrive)."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit: must be between 1 and {MAX_PAGE_SIZE}, not {limit}")
    filters = filters or SessionFilter()
    filters.check()
    statement = select(Session).where(*filters.where())
    if before is not None:
        anchor = await s.get(Session, before)
        if anchor is None:
            raise LookupError(f"before: session {before} does not exist")
        statement = statement.where(
            tuple_(col(Session.started_at), col(Session.id)) < tuple_(anchor.started_at, anchor.id)
        )
    statement = statement.order_by(col(Session.started_at).desc(), col(Session.id).desc()).limit(limit + 1)
    found = list((await s.exec(statement)).all())
    sessions, more = found[:limit], len(found) > limit
    return SessionPage(await _rows(s, sessions), sessions[-1].id if more else None)


async def review_counts(s: AsyncSession, filters: SessionFilter | None = None) -> dict[str, int]:
    """How many sessions (matching `filters`, whatever their review status) are in each review status."""
    base = dataclasses.replace(filters or SessionFilter(), review=None)
    statement = select(Session.review_status, func.count()).where(*base.where()).group_by(col(Session.review_status))
    counts = {status: 0 for status in REVIEW_STATUSES}
    counts.update({status: n for status, n in (await s.exec(statement)).all()})
    return counts


async def session_sites(s: AsyncSession) -> list[str]:
    """Every site that has a session, for filter menus."""
    return list((await s.exec(select(Session.site).distinct().order_by(col(Session.site)))).all())


async def _rows(s: AsyncSession, sessions: list[Session]) -> list[SessionRow]:
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


@dataclass(frozen=True)
class SessionOverview:
    """A session with its list row and pipeline steps: what its page, status card and API show first."""

    session: Session
    row: SessionRow
    steps: list[dict[str, Any]]


async def session_overview(s: AsyncSession, session_id: uuid.UUID) -> SessionOverview:
    """The session's overview; LookupError naming it when there is no such session."""
    session = await s.get(Session, session_id)
    if session is None:
        raise LookupError(f"session {session_id} does not exist")
    return SessionOverview(session, await session_row(s, session), await step_details(s, session_id))


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
    """Every click with its ranked candidates, their reliability and per-condition results, and
    replay's pick per condition."""
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
    verdicts = (await s.exec(select(ReplayVerdict).where(col(ReplayVerdict.event_id).in_(event_ids)))).all()
    rank_of = {c.id: c.rank for c in candidates}
    picks: dict[int, dict[str, PickView]] = {}
    for v in verdicts:
        rank = rank_of.get(v.candidate_id) if v.candidate_id is not None else None
        picks.setdefault(v.event_id, {})[v.condition] = PickView(v.pick, rank, v.outcome)
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
            picks=picks.get(e.id or -1, {}),
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


@dataclass
class ShotView:
    id: uuid.UUID
    reason: str
    frame: int | None = None
    stable: bool | None = None
    masked_boxes: int | None = None


@dataclass
class TimelineItem:
    """One line of a session's timeline: what happened, where, and the screenshots taken for it."""

    seq: int
    type: str
    t: datetime
    url: str
    title: str
    detail: str = ""
    shots: list[ShotView] = field(default_factory=list)
    event_id: int | None = None
    offset_s: float = 0.0


def _target(payload: dict[str, Any]) -> str:
    target = payload.get("target") or {}
    text = str(target.get("text") or "").strip()
    tag = str(target.get("tag") or "?")
    return f"<{tag}> {text[:60]}".strip()


def _field_name(payload: dict[str, Any]) -> str:
    info = payload.get("field") or {}
    return str(info.get("label") or info.get("name") or info.get("tag") or "a field")


Described = tuple[str, str]


def _page(e: Event) -> Described:
    return f"Page: {e.payload.get('title') or e.url}", ""


def _navigation(e: Event) -> Described:
    from_url = e.payload.get("from_url")
    return f"Navigation ({e.payload.get('kind', 'load')})", f"from {from_url}" if from_url else ""


def _click(e: Event) -> Described:
    return f"{'Double click' if e.type == 'dblclick' else 'Click'} {_target(e.payload)}", ""


def _input(e: Event) -> Described:
    value = e.payload.get("value") or ""
    name = _field_name(e.payload)
    verb = "Chose" if e.payload.get("trigger") == "select" else "Typed"
    category = str((e.payload.get("field") or {}).get("category") or "")
    return (f'{verb} "{value}" in {name}' if value else f"Cleared {name}"), category


def _submit(e: Event) -> Described:
    form = e.payload.get("form") or {}
    fields = form.get("fields") or []
    name = form.get("name") or form.get("id") or "form"
    by = f" with “{e.payload['submitter']}”" if e.payload.get("submitter") else ""
    detail = ", ".join(f"{f.get('label') or f.get('name') or f.get('tag')} ({f.get('category')})" for f in fields)
    return f"Submitted {name} ({len(fields)} fields){by}", detail


def _modal(e: Event) -> Described:
    p = e.payload
    title = f": {p['title']}" if p.get("title") else ""
    if p.get("state") == "close":
        return f"Modal closed ({p.get('kind')}){title}", f"open {(p.get('open_ms') or 0) / 1000:.1f} s"
    return f"Modal opened ({p.get('kind')}){title}", " · ".join(p.get("buttons") or [])


def _dwell(e: Event) -> Described:
    ended = "then clicked" if e.payload.get("ended_by") == "click" else "then moved on"
    return f"Hesitated {e.payload.get('duration_ms', 0) / 1000:.1f} s on {_target(e.payload)}", ended


def _scroll(e: Event) -> Described:
    depth, deepest = e.payload.get("depth_pct", 0), e.payload.get("max_depth_pct", 0)
    return f"Scrolled {e.payload.get('direction') or ''} to {depth:.0f}%", f"deepest {deepest:.0f}%"


def _key(e: Event) -> Described:
    return f"Pressed {e.payload.get('key')}", _target(e.payload)


def _visibility(e: Event) -> Described:
    return f"Tab {e.payload.get('state')}", ""


def _snapshot(e: Event) -> Described:
    p = e.payload
    size_kb = (p.get("blob_bytes") or p.get("size_bytes") or 0) / 1024
    html_kb = (p.get("raw_chars") or 0) / 1024
    return "DOM snapshot", f"{size_kb:.1f} kB gzip ({html_kb:.0f} kB HTML, {p.get('nodes') or 0} nodes)"


def _audio(e: Event) -> Described:
    return f"Audio {e.payload.get('duration_ms', 0) / 1000:.0f} s", f"segment {e.payload.get('segment', 0)}"


# Screenshots are not lines of their own: they hang under the event they were taken for.
DESCRIBERS: dict[str, Callable[[Event], Described]] = {
    "page": _page,
    "navigation": _navigation,
    "click": _click,
    "dblclick": _click,
    "input": _input,
    "submit": _submit,
    "modal": _modal,
    "dwell": _dwell,
    "scroll": _scroll,
    "key": _key,
    "visibility": _visibility,
    "snapshot": _snapshot,
    "audio": _audio,
}


async def session_timeline(s: AsyncSession, session_id: uuid.UUID) -> list[TimelineItem]:
    """Every event in order, each with the screenshots taken for it (bursts under their page)."""
    events = (await s.exec(select(Event).where(Event.session_id == session_id).order_by(col(Event.seq)))).all()
    shots = (await s.exec(select(Screenshot).where(Screenshot.session_id == session_id))).all()
    shot_events = {e.id: e for e in events if e.type == "screenshot"}
    by_owner: dict[int, list[ShotView]] = {}
    for shot in shots:
        shot_event = shot_events.get(shot.event_id)
        payload = shot_event.payload if shot_event else {}
        owner = shot.for_seq if shot.for_seq is not None else (shot_event.seq if shot_event else -1)
        by_owner.setdefault(owner, []).append(
            ShotView(shot.id, shot.reason, payload.get("frame"), payload.get("stable"), payload.get("masked_boxes"))
        )
    for owned in by_owner.values():
        owned.sort(key=lambda v: (v.frame is None, v.frame or 0))
    start = events[0].t if events else None
    items: list[TimelineItem] = []
    for event in events:
        describe = DESCRIBERS.get(event.type)
        if describe is None:
            continue
        title, detail = describe(event)
        items.append(
            TimelineItem(
                seq=event.seq,
                type=event.type,
                t=event.t,
                url=event.url,
                title=title,
                detail=detail,
                shots=by_owner.get(event.seq, []),
                event_id=event.id,
                offset_s=(event.t - start).total_seconds() if start else 0.0,
            )
        )
    return items
