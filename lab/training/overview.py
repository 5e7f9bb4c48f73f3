"""Read models for the trainer: every site with its data, latest run, deployed model and metrics
over time. Plain data out of SQL; the dataset itself (and its validation) is built only for the
site a trainer opens (`lab.training.runs.propose_run`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import Deployment, Evaluation, Session, TrainingExample, TrainingRun
from lab.training.dataset import assign_splits


@dataclass(frozen=True)
class MetricPoint:
    """One evaluation of a site's model, for metrics over time."""

    at: datetime
    model: str
    run_id: str | None
    step_success: float
    action_accuracy: float
    element_accuracy: float
    n_steps: int
    base_step_success: float | None
    deployed_step_success: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "model": self.model,
            "run_id": self.run_id,
            "step_success": self.step_success,
            "action_accuracy": self.action_accuracy,
            "element_accuracy": self.element_accuracy,
            "n_steps": self.n_steps,
            "base_step_success": self.base_step_success,
            "deployed_step_success": self.deployed_step_success,
        }


@dataclass
class SiteOverview:
    site: str
    sessions: int = 0
    review: dict[str, int] = field(default_factory=dict)
    train_examples: int = 0
    validation_examples: int = 0
    latest_run: TrainingRun | None = None
    active: Deployment | None = None
    metrics: list[MetricPoint] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.review.get("accepted", 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "sessions": self.sessions,
            "review": self.review,
            "accepted_sessions": self.accepted,
            "train_examples": self.train_examples,
            "validation_examples": self.validation_examples,
            "latest_run": None
            if self.latest_run is None
            else {"id": str(self.latest_run.id), "status": self.latest_run.status},
            "active_model": self.active.model if self.active else None,
            "latest_step_success": self.metrics[-1].step_success if self.metrics else None,
        }


def _compared(evaluation: Evaluation, role: str) -> float | None:
    other = evaluation.compared_to.get(role)
    return float(other["step_success"]) if isinstance(other, dict) and "step_success" in other else None


async def metrics_over_time(s: AsyncSession, site: str, limit: int = 50) -> list[MetricPoint]:
    """The site's evaluations, oldest first (the latest `limit`)."""
    rows = (
        await s.exec(
            select(Evaluation).where(Evaluation.site == site).order_by(col(Evaluation.created_at).desc()).limit(limit)
        )
    ).all()
    return [
        MetricPoint(
            at=e.created_at,
            model=e.model,
            run_id=str(e.run_id) if e.run_id else None,
            step_success=e.step_success,
            action_accuracy=e.action_accuracy,
            element_accuracy=e.element_accuracy,
            n_steps=e.n_steps,
            base_step_success=_compared(e, "base"),
            deployed_step_success=_compared(e, "deployed"),
        )
        for e in reversed(rows)
    ]


async def site_overviews(s: AsyncSession) -> list[SiteOverview]:
    """Every site that has sessions, by name."""
    sites: dict[str, SiteOverview] = {}
    review_rows = await s.exec(
        select(Session.site, Session.review_status, func.count()).group_by(Session.site, Session.review_status)
    )
    for site, status, count in review_rows.all():
        overview = sites.setdefault(site, SiteOverview(site))
        overview.review[status] = count
        overview.sessions += count
    accepted: dict[str, list[Any]] = defaultdict(list)
    for site, session_id in (
        await s.exec(
            select(Session.site, Session.id)
            .where(Session.review_status == "accepted")
            .order_by(col(Session.started_at))
        )
    ).all():
        accepted[site].append(session_id)
    example_rows = await s.exec(
        select(TrainingExample.session_id, func.count())
        .join(Session, col(Session.id) == col(TrainingExample.session_id))
        .where(Session.review_status == "accepted", col(TrainingExample.valid))
        .group_by(col(TrainingExample.session_id))
    )
    examples = dict(example_rows.all())
    for site, session_ids in accepted.items():
        overview = sites[site]
        # The same split the dataset builder makes (lab.training.dataset), so the counts agree.
        for session_id, split in assign_splits(session_ids).items():
            if split == "train":
                overview.train_examples += examples.get(session_id, 0)
            else:
                overview.validation_examples += examples.get(session_id, 0)
    for run in (await s.exec(select(TrainingRun).order_by(col(TrainingRun.created_at)))).all():
        if run.site in sites:
            sites[run.site].latest_run = run
    for deployment in (await s.exec(select(Deployment).where(col(Deployment.active)))).all():
        if deployment.site in sites:
            sites[deployment.site].active = deployment
    for site in sites:
        sites[site].metrics = await metrics_over_time(s, site)
    return [sites[name] for name in sorted(sites)]
