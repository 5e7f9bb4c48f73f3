"""The one CodeSight schema: human and automated sessions share every table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

SESSION_MODES = ("human", "automated")
SESSION_STATUSES = ("recording", "processing", "done", "failed")
STEP_STATUSES = ("pending", "running", "done", "failed", "skipped")
USER_ROLES = ("admin", "reviewer", "trainer", "viewer")
# pending: not graded yet; the quality step proposes accepted / needs_review / rejected from
# the score; a reviewer's decision (accepted / rejected) overrides it. Only accepted trains.
REVIEW_STATUSES = ("pending", "accepted", "needs_review", "rejected")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = False) -> Any:
    return Field(default_factory=utcnow if not nullable else None, sa_type=DateTime(timezone=True), nullable=nullable)


class Participant(SQLModel, table=True):
    __tablename__ = "participants"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(index=True, unique=True)
    token_hash: str = Field(index=True, unique=True)
    created_at: datetime = _ts()


class User(SQLModel, table=True):
    """A dashboard user (QA reviewer, trainer, admin); API tokens are stored hashed."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(index=True, unique=True)
    role: str = Field(default="viewer")
    token_hash: str = Field(index=True, unique=True)
    created_at: datetime = _ts()


class Session(SQLModel, table=True):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_site_started", "site", "started_at"),
        Index("ix_sessions_status", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    participant_id: uuid.UUID | None = Field(default=None, foreign_key="participants.id", index=True)
    mode: str = Field(default="human", index=True)
    site: str
    site_version: str | None = None
    start_url: str | None = None
    user_agent: str | None = None
    status: str = Field(default="recording")
    started_at: datetime = _ts()
    ended_at: datetime | None = _ts(nullable=True)
    quality_score: float | None = None
    quality: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    archive_key: str | None = None
    archive_bytes: int | None = Field(default=None, sa_type=BigInteger)
    review_status: str = Field(default="pending", index=True)
    review_reason: str | None = None
    reviewed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    reviewed_at: datetime | None = _ts(nullable=True)


class Page(SQLModel, table=True):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: uuid.UUID = Field(foreign_key="sessions.id", index=True, ondelete="CASCADE")
    seq: int = Field(sa_type=BigInteger)
    url: str
    title: str = ""
    structure: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    created_at: datetime = _ts()


class Event(SQLModel, table=True):
    """One wire event; `(session_id, seq)` is unique so a resent event is a no-op."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="uq_events_session_seq"),
        Index("ix_events_session_type", "session_id", "type"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    session_id: uuid.UUID = Field(foreign_key="sessions.id", ondelete="CASCADE")
    seq: int = Field(sa_type=BigInteger)
    type: str
    t: datetime = Field(sa_type=DateTime(timezone=True))
    url: str
    page_id: uuid.UUID | None = Field(default=None, foreign_key="pages.id", index=True, ondelete="SET NULL")
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    received_at: datetime = _ts()


class SelectorCandidate(SQLModel, table=True):
    __tablename__ = "selector_candidates"
    __table_args__ = (Index("ix_selector_candidates_session_kind", "session_id", "kind"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    session_id: uuid.UUID = Field(foreign_key="sessions.id", ondelete="CASCADE")
    event_id: int = Field(sa_type=BigInteger, foreign_key="events.id", index=True, ondelete="CASCADE")
    kind: str
    value: str
    rank: int
    score: float
    reliability: float | None = None


class Screenshot(SQLModel, table=True):
    __tablename__ = "screenshots"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: uuid.UUID = Field(foreign_key="sessions.id", index=True, ondelete="CASCADE")
    event_id: int = Field(sa_type=BigInteger, foreign_key="events.id", index=True, ondelete="CASCADE")
    for_seq: int | None = Field(default=None, sa_type=BigInteger)
    reason: str
    blob_key: str
    size_bytes: int
    width: int
    height: int


class ReplayResult(SQLModel, table=True):
    __tablename__ = "replay_results"
    __table_args__ = (UniqueConstraint("candidate_id", "condition", name="uq_replay_candidate_condition"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    candidate_id: int = Field(sa_type=BigInteger, foreign_key="selector_candidates.id", index=True, ondelete="CASCADE")
    condition: str = Field(index=True)
    matched_count: int
    correct: bool
    created_at: datetime = _ts()


class TrainingExample(SQLModel, table=True):
    __tablename__ = "training_examples"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    session_id: uuid.UUID = Field(foreign_key="sessions.id", index=True, ondelete="CASCADE")
    event_id: int = Field(sa_type=BigInteger, foreign_key="events.id", index=True, ondelete="CASCADE")
    site: str = Field(index=True)
    split: str = Field(default="train")
    body: dict[str, Any] = Field(sa_type=JSONB)
    valid: bool = True
    errors: list[str] = Field(default_factory=list, sa_type=JSONB)
    created_at: datetime = _ts()


class PipelineStep(SQLModel, table=True):
    __tablename__ = "pipeline_steps"
    __table_args__ = (UniqueConstraint("session_id", "step", name="uq_pipeline_session_step"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    session_id: uuid.UUID = Field(foreign_key="sessions.id", index=True, ondelete="CASCADE")
    step: str
    status: str = Field(default="pending")
    attempts: int = 0
    last_error: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    updated_at: datetime = _ts()
