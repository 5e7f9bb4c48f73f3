"""Training runs, their events, evaluations and deployments (one active per site).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _jsonb(name: str) -> sa.Column[object]:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), nullable=False)


def upgrade() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        _jsonb("hyperparameters"),
        _jsonb("plan"),
        _jsonb("dataset"),
        sa.Column("training_file_id", sa.String(), nullable=True),
        sa.Column("validation_file_id", sa.String(), nullable=True),
        sa.Column("job_id", sa.String(), nullable=True),
        sa.Column("fine_tuned_model", sa.String(), nullable=True),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("error_message", sa.String(), nullable=True),
        sa.Column("error_param", sa.String(), nullable=True),
        sa.Column("trained_tokens", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_training_runs_status"), "training_runs", ["status"], unique=False)
    op.create_index("ix_training_runs_site_created", "training_runs", ["site", "created_at"], unique=False)

    op.create_table(
        "training_run_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        _jsonb("data"),
        sa.Column("provider_event_id", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["training_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "provider_event_id", name="uq_training_run_events_provider"),
    )
    op.create_index(op.f("ix_training_run_events_run_id"), "training_run_events", ["run_id"], unique=False)

    op.create_table(
        "evaluations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("split", sa.String(), nullable=False),
        sa.Column("action_accuracy", sa.Float(), nullable=False),
        sa.Column("element_accuracy", sa.Float(), nullable=False),
        sa.Column("step_success", sa.Float(), nullable=False),
        sa.Column("n_steps", sa.Integer(), nullable=False),
        _jsonb("breakdown"),
        _jsonb("compared_to"),
        _jsonb("element_check"),
        _jsonb("decision"),
        _jsonb("suggestions"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["training_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_evaluations_run_id"), "evaluations", ["run_id"], unique=False)
    op.create_index("ix_evaluations_site_created", "evaluations", ["site", "created_at"], unique=False)

    op.create_table(
        "deployments",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployed_by", sa.Uuid(), nullable=True),
        sa.Column("rolled_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rolled_back_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["training_runs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["deployed_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["rolled_back_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_deployments_run_id"), "deployments", ["run_id"], unique=False)
    op.create_index("ix_deployments_site_deployed", "deployments", ["site", "deployed_at"], unique=False)
    # At most one active deployment per site: the one POST /api/v1/predict answers with.
    op.create_index(
        "uq_deployments_one_active_per_site",
        "deployments",
        ["site"],
        unique=True,
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("uq_deployments_one_active_per_site", table_name="deployments", postgresql_where=sa.text("active"))
    op.drop_index("ix_deployments_site_deployed", table_name="deployments")
    op.drop_index(op.f("ix_deployments_run_id"), table_name="deployments")
    op.drop_table("deployments")
    op.drop_index("ix_evaluations_site_created", table_name="evaluations")
    op.drop_index(op.f("ix_evaluations_run_id"), table_name="evaluations")
    op.drop_table("evaluations")
    op.drop_index(op.f("ix_training_run_events_run_id"), table_name="training_run_events")
    op.drop_table("training_run_events")
    op.drop_index("ix_training_runs_site_created", table_name="training_runs")
    op.drop_index(op.f("ix_training_runs_status"), table_name="training_runs")
    op.drop_table("training_runs")
