"""Session review: the quality step's verdict and a reviewer's decision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get 'pending' so the column can be NOT NULL at once.
    op.add_column("sessions", sa.Column("review_status", sa.String(), nullable=False, server_default="pending"))
    op.alter_column("sessions", "review_status", server_default=None)
    op.add_column("sessions", sa.Column("review_reason", sa.String(), nullable=True))
    op.add_column("sessions", sa.Column("reviewed_by", sa.Uuid(), nullable=True))
    op.add_column("sessions", sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_sessions_review_status"), "sessions", ["review_status"], unique=False)
    op.create_foreign_key("sessions_reviewed_by_fkey", "sessions", "users", ["reviewed_by"], ["id"])


def downgrade() -> None:
    op.drop_constraint("sessions_reviewed_by_fkey", "sessions", type_="foreignkey")
    op.drop_index(op.f("ix_sessions_review_status"), table_name="sessions")
    op.drop_column("sessions", "reviewed_at")
    op.drop_column("sessions", "reviewed_by")
    op.drop_column("sessions", "review_reason")
    op.drop_column("sessions", "review_status")
