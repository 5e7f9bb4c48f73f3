"""The one CodeSight schema: human and automated sessions share every table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, UniqueConstraint, text
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
        Index("ix_sessions_started_id", "started_at", "id"),
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
    # When the loose screenshots, snapshots and audio were deleted (only the archive remains); None while kept.
    working_copies_deleted_at: datetime | None = _ts(nullable=True)
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


# What `resolve` picked in one replayed page state: a candidate (`candidate_id`), the
# fingerprint's relocation, or nothing (it abstained).
VERDICT_PICKS = ("candidate", "fingerprint", "none")
# Where the click target stood in that page state (lab.selectors.outcomes.TargetState).
VERDICT_TARGETS = ("present", "removed", "unreproduced", "unknown")
# correct: the target picked, or nothing where it was removed on purpose; wrong: another element,
# or anything where it was removed; abstained: nothing although the target was there;
# target_absent: the page state cannot show the target (nothing to judge); unknown: no ground
# truth and the fingerprint finds nothing to compare with.
VERDICT_OUTCOMES = ("correct", "wrong", "abstained", "target_absent", "unknown")


class ReplayVerdict(SQLModel, table=True):
    """Replay's verdict on one click under one condition: what `resolve` picked and whether it was right."""

    __tablename__ = "replay_verdicts"
    __table_args__ = (UniqueConstraint("event_id", "condition", name="uq_replay_verdict_event_condition"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    event_id: int = Field(sa_type=BigInteger, foreign_key="events.id", ondelete="CASCADE")
    condition: str
    pick: str
    candidate_id: int | None = Field(
        default=None, sa_type=BigInteger, foreign_key="selector_candidates.id", index=True, ondelete="CASCADE"
    )
    target: str
    outcome: str
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


# --- training runs, evaluations, deployments ----------------------------------------------------

# pending: created, waiting for the worker; uploading: files going up; validating_files / queued /
# running: the provider's job states; evaluating: the job succeeded, the model is being scored;
# succeeded / failed / cancelled: final.
RUN_STATUSES = (
    "pending",
    "uploading",
    "validating_files",
    "queued",
    "running",
    "evaluating",
    "succeeded",
    "failed",
    "cancelled",
)
FINAL_RUN_STATUSES = ("succeeded", "failed", "cancelled")


class TrainingRun(SQLModel, table=True):
    """One fine-tuning run of a site's dataset: plan, provider files and job, outcome."""

    __tablename__ = "training_runs"
    __table_args__ = (Index("ix_training_runs_site_created", "site", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    site: str
    provider: str
    model: str
    status: str = Field(default="pending", index=True)
    hyperparameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    plan: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    dataset: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    training_file_id: str | None = None
    validation_file_id: str | None = None
    job_id: str | None = None
    fine_tuned_model: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_param: str | None = None
    trained_tokens: int | None = Field(default=None, sa_type=BigInteger)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)


class TrainingRunEvent(SQLModel, table=True):
    """What happened to a run: our own steps, retries, and the provider's job events (deduplicated)."""

    __tablename__ = "training_run_events"
    __table_args__ = (UniqueConstraint("run_id", "provider_event_id", name="uq_training_run_events_provider"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    run_id: uuid.UUID = Field(foreign_key="training_runs.id", index=True, ondelete="CASCADE")
    created_at: datetime = _ts()
    level: str = Field(default="info")
    message: str
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    provider_event_id: str | None = None


class Evaluation(SQLModel, table=True):
    """A model scored on a held-out split, with the base and deployed models' scores beside it."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_site_created", "site", "created_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    run_id: uuid.UUID | None = Field(default=None, foreign_key="training_runs.id", index=True, ondelete="CASCADE")
    site: str
    model: str
    split: str = Field(default="validation")
    action_accuracy: float
    element_accuracy: float
    step_success: float
    n_steps: int
    breakdown: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    compared_to: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    element_check: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    decision: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    suggestions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    created_at: datetime = _ts()


class Deployment(SQLModel, table=True):
    """A model serving a site's predictions; at most one active per site (partial unique index)."""

    __tablename__ = "deployments"
    __table_args__ = (
        Index("ix_deployments_site_deployed", "site", "deployed_at"),
        Index("uq_deployments_one_active_per_site", "site", unique=True, postgresql_where=text("active")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    site: str
    provider: str
    model: str
    run_id: uuid.UUID | None = Field(default=None, foreign_key="training_runs.id", index=True, ondelete="SET NULL")
    active: bool = True
    reason: str = ""
    deployed_at: datetime = _ts()
    deployed_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    rolled_back_at: datetime | None = _ts(nullable=True)
    rolled_back_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")


# --- webhooks ------------------------------------------------------------------------------------

# What CodeSight tells the endpoints in CODESIGHT_WEBHOOK_URLS (README "Webhooks").
WEBHOOK_EVENTS = (
    "session.done",
    "session.failed",
    "session.needs_review",
    "training.run.succeeded",
    "training.run.failed",
    "training.run.cancelled",
    "model.deployed",
    "webhook.test",
)
# pending: waiting for (another) attempt; delivered: the endpoint answered 2xx; failed: attempts ran out.
WEBHOOK_STATUSES = ("pending", "delivered", "failed")


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint: written in the unit of work that caused the event (a transactional
    outbox: no event is lost to a crash, none is sent for a rolled-back change), POSTed by the workers
    until the endpoint answers 2xx or the attempts run out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_key", "url", name="uq_webhook_event_url"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    # Sent as `webhook-id` ("msg_<hex>"): receivers use it to drop a delivery they already processed.
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    event_type: str
    # The same event is queued once per endpoint, however often the code that causes it runs.
    event_key: str
    url: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    status: str = Field(default="pending")
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime = _ts()
    delivered_at: datetime | None = _ts(nullable=True)


# --- erasure (GDPR art. 17) ---------------------------------------------------------------------

ERASURE_SUBJECTS = ("participant", "session")


class Erasure(SQLModel, table=True):
    """That an erasure happened, kept without the erased data: opaque ids, who asked, and counts.

    `blob_failures` lists the blob keys still to delete (key -> the store's reason); running the
    erasure again retries them, and `completed_at` is set once none is left.
    """

    __tablename__ = "erasures"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    subject: str
    subject_id: uuid.UUID = Field(index=True)
    requested_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    requested_at: datetime = _ts()
    session_ids: list[str] = Field(default_factory=list, sa_type=JSONB)
    rows_deleted: dict[str, int] = Field(default_factory=dict, sa_type=JSONB)
    blobs_deleted: int = 0
    bytes_freed: int = Field(default=0, sa_type=BigInteger)
    blob_failures: dict[str, str] = Field(default_factory=dict, sa_type=JSONB)
    completed_at: datetime | None = _ts(nullable=True)
