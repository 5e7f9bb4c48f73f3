"""Initial schema: every table of lab.db.models as of the first release.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "participants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_participants_name"), "participants", ["name"], unique=True)
    op.create_index(op.f("ix_participants_token_hash"), "participants", ["token_hash"], unique=True)
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_users_name"), "users", ["name"], unique=True)
    op.create_index(op.f("ix_users_token_hash"), "users", ["token_hash"], unique=True)
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=True),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("site_version", sa.String(), nullable=True),
        sa.Column("start_url", sa.String(), nullable=True),
        sa.Column("user_agent", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("quality", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("archive_key", sa.String(), nullable=True),
        sa.Column("archive_bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_sessions_mode"), "sessions", ["mode"], unique=False)
    op.create_index(op.f("ix_sessions_participant_id"), "sessions", ["participant_id"], unique=False)
    op.create_index("ix_sessions_site_started", "sessions", ["site", "started_at"], unique=False)
    op.create_index("ix_sessions_status", "sessions", ["status"], unique=False)
    op.create_table(
        "pages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("structure", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "seq"),
    )
    op.create_index(op.f("ix_pages_session_id"), "pages", ["session_id"], unique=False)
    op.create_table(
        "pipeline_steps",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "step", name="uq_pipeline_session_step"),
    )
    op.create_index(op.f("ix_pipeline_steps_session_id"), "pipeline_steps", ["session_id"], unique=False)
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("t", sa.DateTime(timezone=True), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("page_id", sa.Uuid(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "seq", name="uq_events_session_seq"),
    )
    op.create_index(op.f("ix_events_page_id"), "events", ["page_id"], unique=False)
    op.create_index("ix_events_session_type", "events", ["session_id", "type"], unique=False)
    op.create_table(
        "screenshots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("for_seq", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("blob_key", sa.String(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_screenshots_event_id"), "screenshots", ["event_id"], unique=False)
    op.create_index(op.f("ix_screenshots_session_id"), "screenshots", ["session_id"], unique=False)
    op.create_table(
        "selector_candidates",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reliability", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_selector_candidates_event_id"), "selector_candidates", ["event_id"], unique=False)
    op.create_index("ix_selector_candidates_session_kind", "selector_candidates", ["session_id", "kind"], unique=False)
    op.create_table(
        "training_examples",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("split", sa.String(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_training_examples_event_id"), "training_examples", ["event_id"], unique=False)
    op.create_index(op.f("ix_training_examples_session_id"), "training_examples", ["session_id"], unique=False)
    op.create_index(op.f("ix_training_examples_site"), "training_examples", ["site"], unique=False)
    op.create_table(
        "replay_results",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("candidate_id", sa.BigInteger(), nullable=False),
        sa.Column("condition", sa.String(), nullable=False),
        sa.Column("matched_count", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["selector_candidates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("candidate_id", "condition", name="uq_replay_candidate_condition"),
    )
    op.create_index(op.f("ix_replay_results_candidate_id"), "replay_results", ["candidate_id"], unique=False)
    op.create_index(op.f("ix_replay_results_condition"), "replay_results", ["condition"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_replay_results_condition"), table_name="replay_results")
    op.drop_index(op.f("ix_replay_results_candidate_id"), table_name="replay_results")
    op.drop_table("replay_results")
    op.drop_index(op.f("ix_training_examples_site"), table_name="training_examples")
    op.drop_index(op.f("ix_training_examples_session_id"), table_name="training_examples")
    op.drop_index(op.f("ix_training_examples_event_id"), table_name="training_examples")
    op.drop_table("training_examples")
    op.drop_index("ix_selector_candidates_session_kind", table_name="selector_candidates")
    op.drop_index(op.f("ix_selector_candidates_event_id"), table_name="selector_candidates")
    op.drop_table("selector_candidates")
    op.drop_index(op.f("ix_screenshots_session_id"), table_name="screenshots")
    op.drop_index(op.f("ix_screenshots_event_id"), table_name="screenshots")
    op.drop_table("screenshots")
    op.drop_index("ix_events_session_type", table_name="events")
    op.drop_index(op.f("ix_events_page_id"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_pipeline_steps_session_id"), table_name="pipeline_steps")
    op.drop_table("pipeline_steps")
    op.drop_index(op.f("ix_pages_session_id"), table_name="pages")
    op.drop_table("pages")
    op.drop_index("ix_sessions_status", table_name="sessions")
    op.drop_index("ix_sessions_site_started", table_name="sessions")
    op.drop_index(op.f("ix_sessions_participant_id"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_mode"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_index(op.f("ix_users_token_hash"), table_name="users")
    op.drop_index(op.f("ix_users_name"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_participants_token_hash"), table_name="participants")
    op.drop_index(op.f("ix_participants_name"), table_name="participants")
    op.drop_table("participants")
