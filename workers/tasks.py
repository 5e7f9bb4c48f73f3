"""Procrastinate tasks of the pipeline: thin wrappers that call lab (see workers.app).

Each task runs its step (status rows and retries included) and then defers the next step's
task; the chain ends with archive. A step's successor is deferred only once the step has
finished, so a session's steps run one at a time without a lock (a lock held by the running
job would keep its successor waiting for the worker's next poll).
"""

from __future__ import annotations

import uuid

import procrastinate
from procrastinate import App, JobContext

from lab.browser import using_browser
from lab.db import Database
from lab.pipeline import STEPS, init_steps, next_step, run_step
from workers.app import PIPELINE_QUEUE, app
from workers.context import get_resources

# Retry a failed step up to 5 times, waiting 2**(attempt+1) seconds: 2, 4, 8, 16, 32.
MAX_ATTEMPTS = 5
RETRY = procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2)
TASK_NAMES = {step: f"pipeline.{step}" for step in STEPS}


async def _run(context: JobContext, step: str, session_id: str) -> None:
    resources = get_resources()
    final_attempt = context.job.attempts >= MAX_ATTEMPTS
    with using_browser(resources.browser):  # the process's one Chromium; each job gets fresh contexts in it
        await run_step(resources.db, resources.blobs, uuid.UUID(session_id), step, final_attempt=final_attempt)
    following = next_step(step)
    if following is not None:
        await context.app.configure_task(TASK_NAMES[following]).defer_async(session_id=session_id)


@app.task(name=TASK_NAMES["replay"], queue=PIPELINE_QUEUE, retry=RETRY, pass_context=True)
async def replay(context: JobContext, session_id: str) -> None:
    await _run(context, "replay", session_id)


@app.task(name=TASK_NAMES["quality"], queue=PIPELINE_QUEUE, retry=RETRY, pass_context=True)
async def quality(context: JobContext, session_id: str) -> None:
    await _run(context, "quality", session_id)


@app.task(name=TASK_NAMES["training"], queue=PIPELINE_QUEUE, retry=RETRY, pass_context=True)
async def training(context: JobContext, session_id: str) -> None:
    await _run(context, "training", session_id)


@app.task(name=TASK_NAMES["archive"], queue=PIPELINE_QUEUE, retry=RETRY, pass_context=True)
async def archive(context: JobContext, session_id: str) -> None:
    await _run(context, "archive", session_id)


async def start_pipeline(queue: App, db: Database, session_id: uuid.UUID) -> int:
    """Create the session's step rows (all 'pending') and defer the first step; returns the job id."""
    await init_steps(db, session_id)
    return await queue.configure_task(TASK_NAMES["replay"]).defer_async(session_id=str(session_id))
