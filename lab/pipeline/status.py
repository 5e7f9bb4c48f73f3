"""Pipeline status rows, and the live events the dashboard listens to (Postgres NOTIFY)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.engine import Database
from lab.db.models import SESSION_STATUSES, STEP_STATUSES, PipelineStep, Session, utcnow
from lab.db.notify import NOTIFY_CHANNEL as NOTIFY_CHANNEL  # its home is lab.db.notify; kept importable here
from lab.db.notify import notify

STEPS = ("replay", "quality", "training", "archive")
# Postgres rejects NOTIFY payloads of 8000 bytes or more; error texts are cut well below.
MAX_NOTIFY_ERROR_CHARS = 1000
# Stored error texts keep the useful head of a traceback message, not megabytes of it.
MAX_STORED_ERROR_CHARS = 4000


@dataclass(frozen=True)
class StepState:
    step: str
    status: str
    attempts: int = 0
    last_error: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PipelineSummary:
    """Where a session's pipeline stands: every step in order, and one overall status."""

    session_id: uuid.UUID
    steps: tuple[StepState, ...]
    status: str
    current_step: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": str(self.session_id),
            "status": self.status,
            "current_step": self.current_step,
            "steps": [
                {
                    "step": st.step,
                    "status": st.status,
                    "attempts": st.attempts,
                    "last_error": st.last_error,
                    "updated_at": st.updated_at.isoformat() if st.updated_at else None,
                }
                for st in self.steps
            ],
        }


def _check_step(step: str, status: str) -> None:
    if step not in STEPS:
        raise ValueError(f"step: {step!r} is not one of {STEPS}")
    if status not in STEP_STATUSES:
        raise ValueError(f"status: {status!r} is not one of {STEP_STATUSES}")


async def record_step(
    db: Database,
    session_id: uuid.UUID,
    step: str,
    status: str,
    error: str | None = None,
    detail: dict[str, Any] | None = None,
) -> StepState:
    """Upsert a step's status in its own unit of work and notify the dashboard.

    'running' counts an attempt; 'failed' stores `error`; 'done' clears the error of earlier attempts.
    """
    _check_step(step, status)
    error = error[:MAX_STORED_ERROR_CHARS] if error else None
    now = utcnow()
    values: dict[str, Any] = {
        "session_id": session_id,
        "step": step,
        "status": status,
        "attempts": 1 if status == "running" else 0,
        "last_error": error,
        "detail": detail or {},
        "updated_at": now,
    }
    on_conflict: dict[str, Any] = {
        "status": status,
        "attempts": col(PipelineStep.attempts) + (1 if status == "running" else 0),
        "updated_at": now,
    }
    if status == "failed":
        on_conflict["last_error"] = error
    elif status == "done":
        on_conflict["last_error"] = None
    if detail is not None:
        on_conflict["detail"] = detail
    statement = (
        insert(PipelineStep)
        .values(**values)
        .on_conflict_do_update(constraint="uq_pipeline_session_step", set_=on_conflict)
        .returning(col(PipelineStep.attempts), col(PipelineStep.last_error))
    )
    async with db.session() as s:
        row = (await s.exec(statement)).one()
        state = StepState(step=step, status=status, attempts=row.attempts, last_error=row.last_error, updated_at=now)
        await notify(
            s,
            {
                "type": "pipeline.step",
                "session_id": str(session_id),
                "step": step,
                "status": status,
                "attempts": state.attempts,
                "error": error[:MAX_NOTIFY_ERROR_CHARS] if error else None,
            },
        )
    return state


async def init_steps(db: Database, session_id: uuid.UUID) -> None:
    """Create every step as 'pending' (existing rows are kept); call when a session completes."""
    statement = (
        insert(PipelineStep)
        .values(
            [
                {
                    "session_id": session_id,
                    "step": step,
                    "status": "pending",
                    "attempts": 0,
                    "detail": {},
                    "updated_at": utcnow(),
                }
                for step in STEPS
            ]
        )
        .on_conflict_do_nothing(constraint="uq_pipeline_session_step")
    )
    async with db.session() as s:
        await s.exec(statement)
        await notify(s, {"type": "pipeline.init", "session_id": str(session_id), "steps": list(STEPS)})


async def set_session_status(s: AsyncSession, session_id: uuid.UUID, status: str, **fields: Any) -> Session:
    """Set `sessions.status` (and any other columns given) inside the caller's unit of work, and notify."""
    if status not in SESSION_STATUSES:
        raise ValueError(f"status: {status!r} is not one of {SESSION_STATUSES}")
    session = await s.get(Session, session_id)
    if session is None:
        raise LookupError(f"session {session_id} does not exist")
    session.status = status
    for name, value in fields.items():
        setattr(session, name, value)
    s.add(session)
    await notify(s, {"type": "session.status", "session_id": str(session_id), "status": status})
    return session


def summarize(session_id: uuid.UUID, rows: Sequence[StepState]) -> PipelineSummary:
    """Pure: the overall status from step rows; steps without a row count as pending."""
    by_step = {row.step: row for row in rows}
    steps = tuple(by_step.get(step, StepState(step=step, status="pending")) for step in STEPS)
    statuses = {st.status for st in steps}
    finished = {"done", "skipped"}
    if "failed" in statuses:
        overall = "failed"
    elif statuses <= finished:
        overall = "done"
    elif statuses == {"pending"}:
        overall = "pending"
    else:
        overall = "running"
    current = next((st.step for st in steps if st.status not in finished), None)
    return PipelineSummary(session_id=session_id, steps=steps, status=overall, current_step=current)


async def session_status_summary(db: Database, session_id: uuid.UUID) -> PipelineSummary:
    """The pipeline summary of one session, from its step rows."""
    async with db.session() as s:
        rows = (await s.exec(select(PipelineStep).where(PipelineStep.session_id == session_id))).all()
    return summarize(
        session_id,
        [StepState(r.step, r.status, r.attempts, r.last_error, r.updated_at) for r in rows],
    )
