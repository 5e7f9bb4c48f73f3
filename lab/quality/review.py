"""Which sessions may train: the quality step's verdict, then a QA reviewer's decision."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import Session
from lab.db.notify import notify

# At or above this score a session is accepted without a reviewer (still overridable).
ACCEPT_AT = 80.0
# Below this score a session is rejected without a reviewer (still overridable).
REJECT_BELOW = 50.0

Decision = Literal["accepted", "rejected"]
DECISIONS: tuple[Decision, ...] = ("accepted", "rejected")


def auto_verdict(score: float) -> str:
    """accepted, needs_review or rejected, from the 0-100 quality score."""
    if score >= ACCEPT_AT:
        return "accepted"
    if score < REJECT_BELOW:
        return "rejected"
    return "needs_review"


def propose(session: Session, score: float) -> None:
    """Set the automatic verdict unless a reviewer has already decided."""
    if session.reviewed_by is None:
        session.review_status = auto_verdict(score)


async def record_review(
    s: AsyncSession, session: Session, decision: str, reason: str, reviewer_id: uuid.UUID
) -> Session:
    """A reviewer's decision; a rejection needs a reason the participant can act on."""
    if decision not in DECISIONS:
        raise ValueError(f"decision: must be one of {', '.join(DECISIONS)}, not {decision!r}")
    reason = reason.strip()
    if decision == "rejected" and not reason:
        raise ValueError("reason: say why the session is rejected")
    session.review_status = decision
    session.review_reason = reason or None
    session.reviewed_by = reviewer_id
    session.reviewed_at = datetime.now(UTC)
    s.add(session)
    await s.flush()
    await notify(s, {"type": "session.review", "session_id": str(session.id), "review_status": decision})
    return session


async def accepted_session_ids(s: AsyncSession, site: str) -> list[uuid.UUID]:
    """The sessions of a site that may feed its training dataset."""
    rows = await s.exec(
        select(Session.id)
        .where(Session.site == site, Session.review_status == "accepted")
        .order_by(col(Session.started_at))
    )
    return list(rows.all())
