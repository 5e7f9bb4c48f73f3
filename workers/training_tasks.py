"""Procrastinate tasks of fine-tuning runs: thin wrappers that call lab.training.

start -> (upload files, create the job) -> follow (one look at the job, then itself again after
a backoff delay) -> evaluate (score the model, deploy it when it beats the base and deployed
models). They run on their own queue (`training`, its own worker in `codesight up` and
`codesight worker`), so runs never delay a session's pipeline; each is short, so a job training for
hours holds no worker between looks.
"""

from __future__ import annotations

import uuid

import procrastinate
from procrastinate import App, JobContext

from lab.config import get_settings
from lab.monitoring.metrics import timed_training_task
from lab.training import eval_run, runs
from workers.app import TRAINING_QUEUE, app
from workers.context import get_resources
from workers.maintenance import kick_webhooks

# Retry a failed step up to 5 times, waiting 2**(attempt+1) seconds: 2, 4, 8, 16, 32.
MAX_ATTEMPTS = 5
RETRY = procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2)
START_TASK = "training.start"
FOLLOW_TASK = "training.follow"
EVALUATE_TASK = "training.evaluate"


def _final(context: JobContext) -> bool:
    return context.job.attempts >= MAX_ATTEMPTS


@app.task(name=START_TASK, queue=TRAINING_QUEUE, retry=RETRY, pass_context=True)
async def start(context: JobContext, run_id: str) -> None:
    resources = get_resources()
    with timed_training_task("start"):
        created = await runs.upload_and_create_job(
            resources.db, get_settings(), uuid.UUID(run_id), final_attempt=_final(context)
        )
    if created:
        await context.app.configure_task(FOLLOW_TASK).defer_async(run_id=run_id, quiet_polls=0)


@app.task(name=FOLLOW_TASK, queue=TRAINING_QUEUE, retry=RETRY, pass_context=True)
async def follow(context: JobContext, run_id: str, quiet_polls: int = 0) -> None:
    resources = get_resources()
    with timed_training_task("follow"):
        result = await runs.poll_run(
            resources.db, get_settings(), uuid.UUID(run_id), quiet_polls, final_attempt=_final(context)
        )
    if result.next == "evaluate":
        await context.app.configure_task(EVALUATE_TASK).defer_async(run_id=run_id)
    elif result.next == "poll":
        later = context.app.configure_task(FOLLOW_TASK, schedule_in={"milliseconds": round(result.delay_s * 1000)})
        await later.defer_async(run_id=run_id, quiet_polls=0 if result.changed else quiet_polls + 1)
    else:  # the job failed or was cancelled: the run's webhook is queued
        await kick_webhooks(context.app)


@app.task(name=EVALUATE_TASK, queue=TRAINING_QUEUE, retry=RETRY, pass_context=True)
async def evaluate(context: JobContext, run_id: str) -> None:
    resources = get_resources()
    with timed_training_task("evaluate"):
        await eval_run.evaluate_run(
            resources.db, resources.blobs, get_settings(), uuid.UUID(run_id), final_attempt=_final(context)
        )
    await kick_webhooks(context.app)  # the run ended (and its model may be deployed): webhooks are queued


async def start_run(queue: App, run_id: uuid.UUID) -> int:
    """Defer a new run's first task; returns the procrastinate job id."""
    return await queue.configure_task(START_TASK).defer_async(run_id=str(run_id))
