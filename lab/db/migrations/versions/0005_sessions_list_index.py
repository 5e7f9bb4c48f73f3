"""Sessions listed newest first and paged by (started_at, id): one index serves the unfiltered list.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sessions_started_id", "sessions", ["started_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sessions_started_id", table_name="sessions")
