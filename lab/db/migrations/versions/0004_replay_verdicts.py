"""Replay's verdict per (click, condition): what `resolve` picked and whether it was right.

Sessions replayed before this revision have no verdicts; replaying them again writes them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replay_verdicts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("condition", sa.String(), nullable=False),
        sa.Column("pick", sa.String(), nullable=False),
        sa.Column("candidate_id", sa.BigInteger(), nullable=True),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["candidate_id"], ["selector_candidates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "condition", name="uq_replay_verdict_event_condition"),
    )
    op.create_index(op.f("ix_replay_verdicts_candidate_id"), "replay_verdicts", ["candidate_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_replay_verdicts_candidate_id"), table_name="replay_verdicts")
    op.drop_table("replay_verdicts")
