"""Live notifications about training for the dashboard, sent in the writer's unit of work (delivered
on commit, never on rollback; see `lab.db.notify`). Every one names the run it is about, if any."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import Deployment, Evaluation, TrainingRun
from lab.db.notify import notify
from lab.monitoring import webhooks

# A run's status or columns changed (status, job, files, model, error).
RUN_STATUS = "training.run"
# New rows in a run's event story. The payload carries no count, so a batch of events written in one
# transaction is one notification: Postgres folds identical payloads of a transaction into one.
RUN_EVENTS = "training.events"
# A run's model was evaluated.
EVALUATION = "training.evaluation"
# Which model serves a site changed: deployed, retired by a newer one, rolled back or restored.
DEPLOYMENT = "training.deployment"


async def run_changed(s: AsyncSession, run: TrainingRun) -> None:
    """The run's row changed; pages showing it re-fetch, and webhooks hear when it ends (once per run)."""
    await notify(s, {"type": RUN_STATUS, "run_id": str(run.id), "site": run.site, "status": run.status})
    await webhooks.run_finished(s, run)


async def run_events_added(s: AsyncSession, run_id: uuid.UUID) -> None:
    """The run's event story grew."""
    await notify(s, {"type": RUN_EVENTS, "run_id": str(run_id)})


async def evaluated(s: AsyncSession, evaluation: Evaluation) -> None:
    """A run's evaluation was stored (call after a flush, so it has an id)."""
    await notify(
        s,
        {
            "type": EVALUATION,
            "run_id": str(evaluation.run_id),
            "site": evaluation.site,
            "evaluation_id": evaluation.id,
            "step_success": evaluation.step_success,
        },
    )


async def deployment_changed(s: AsyncSession, deployment: Deployment) -> None:
    """A deployment became active or stopped being so (its run's page shows whether it serves)."""
    await notify(
        s,
        {
            "type": DEPLOYMENT,
            "run_id": str(deployment.run_id) if deployment.run_id else None,
            "site": deployment.site,
            "model": deployment.model,
            "active": deployment.active,
        },
    )
