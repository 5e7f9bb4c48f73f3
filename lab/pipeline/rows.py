"""The DB edge of the pipeline: every row of one session, loaded in one unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import (
    Event,
    Page,
    PipelineStep,
    ReplayResult,
    Screenshot,
    SelectorCandidate,
    Session,
    TrainingExample,
)


class SessionNotFound(LookupError):
    def __init__(self, session_id: uuid.UUID) -> None:
        super().__init__(f"session {session_id} does not exist")
        self.session_id = session_id


@dataclass(frozen=True)
class SessionRows:
    """A session and its rows, ordered by seq / rank; detached, read-only by convention."""

    session: Session
    pages: Sequence[Page]
    events: Sequence[Event]
    candidates: Sequence[SelectorCandidate]
    replay_results: Sequence[ReplayResult]
    screenshots: Sequence[Screenshot]
    training_examples: Sequence[TrainingExample]
    steps: Sequence[PipelineStep]


async def load_session_rows(s: AsyncSession, session_id: uuid.UUID) -> SessionRows:
    """Everything stored about one session; raises SessionNotFound for an unknown id."""
    session = await s.get(Session, session_id)
    if session is None:
        raise SessionNotFound(session_id)
    pages = (await s.exec(select(Page).where(Page.session_id == session_id).order_by(col(Page.seq)))).all()
    events = (await s.exec(select(Event).where(Event.session_id == session_id).order_by(col(Event.seq)))).all()
    candidates = (
        await s.exec(
            select(SelectorCandidate)
            .where(SelectorCandidate.session_id == session_id)
            .order_by(col(SelectorCandidate.event_id), col(SelectorCandidate.rank))
        )
    ).all()
    replay_results = (
        await s.exec(
            select(ReplayResult)
            .join(SelectorCandidate, col(SelectorCandidate.id) == col(ReplayResult.candidate_id))
            .where(SelectorCandidate.session_id == session_id)
            .order_by(col(ReplayResult.candidate_id), col(ReplayResult.condition))
        )
    ).all()
    screenshots = (
        await s.exec(select(Screenshot).where(Screenshot.session_id == session_id).order_by(col(Screenshot.event_id)))
    ).all()
    training_examples = (
        await s.exec(
            select(TrainingExample)
            .where(TrainingExample.session_id == session_id)
            .order_by(col(TrainingExample.event_id))
        )
    ).all()
    steps = (await s.exec(select(PipelineStep).where(PipelineStep.session_id == session_id))).all()
    return SessionRows(session, pages, events, candidates, replay_results, screenshots, training_examples, steps)
