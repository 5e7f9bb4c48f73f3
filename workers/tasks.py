"""Procrastinate tasks of the pipeline: thin wrappers that call lab (see workers.app).

Each task runs its step (status rows and retries included) and then defers the next step's
task; the chain ends with archive. A step's successor is deferred only once the step has
finished, so a session's steps run one at a time without a lock (a lock held by the running
job would keep its successor waiting for the worker's next poll). Every job of a session's
pipeline carries the queueing lock `pipeline:<session id>`, so at most one waits at a time and
`resume_pipeline` can see whether one is queued or running.
"""

from __future__ import annotations

import uuid

import procrastinate
from procrastinate import App, JobContext
from procrastinate.exceptions import AlreadyEnqueued

from lab.browser import using_browser
from lab.db import Database
from lab.db.models import Session
from lab.monitoring import metrics
from lab.pipeline import STEPS, init_steps, next_step, record_step, run_step, session_status_summary
from lab.pipeline.status import set_session_status
from workers.app import PIPELINE_QUEUE, app
from workers.context import get_resources
from workers.maintenance import kick_webhooks

# Retry a failed step up to 5 times, waiting 2**(attempt+1) seconds: 2, 4, 8, 16, 32.
MAX_ATTEMPTS = 5
RETRY = procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2)
TASK_NAMES = {step: f"pipeline.{step}" for step in STEPS}
# When jobs wait (more sessions than workers), later steps go first: a session under way is finished
# (reviewable, archived) before a new one is started, and less work sits half-done on a loaded machine.
STEP_PRIORITY = {step: index for index, step in enumerate(STEPS)}
# Procrastinate's job states; a job in one of these is a pipeline still under way.
LIVE_JOB_STATUSES = ("todo", "doing")


class ResumeRefusedError(Exception):
    """The session's pipeline cannot be resumed; the message says why."""


def pipeline_lock(session_id: uuid.UUID | str) -> str:
    """The queueing lock every pipeline job of one session carries."""
    return f"pipeline:{session_id}"


async def defer_step(queue: App, session_id: uuid.UUID | str, step: str) -> int:
    """Queue `step` for a session; AlreadyEnqueued when one of its jobs is already waiting."""
    task = queue.configure_task(TASK_NAMES[step], queueing_lock=pipeline_lock(session_id))
    return await task.defer_async(session_id=str(session_id))


async def _run(context: JobContext, step: str, session_id: str) -> None:
    resources = get_resources()
    final_attempt = context.job.attempts >= MAX_ATTEMPTS
    try:
        with using_browser(resources.browser):  # the process's one Chromium; each job gets fresh contexts in it
            await run_step(resources.db, resources.blobs, uuid.UUID(session_id), step, final_attempt=final_attempt)
    except Exception:
        if final_attempt:  # the session failed: its webhook is queued
            await kick_webhooks(context.app)
        raise
    following = next_step(step)
    if following is not None:
        await defer_step(context.app, session_id, following)
    else:  # the session is done: its webhook is queued
        await kick_webhooks(context.app)


@app.task(
    name=TASK_NAMES["replay"], queue=PIPELINE_QUEUE, priority=STEP_PRIORITY["replay"], retry=RETRY, pass_context=True
)
async def replay(context: JobContext, session_id: str) -> None:
    await _run(context, "replay", session_id)


@app.task(
    name=TASK_NAMES["quality"], queue=PIPELINE_QUEUE, priority=STEP_PRIORITY["quality"], retry=RETRY, pass_context=True
)
async def quality(context: JobContext, session_id: str) -> None:
    await _run(context, "quality", session_id)


@app.task(
    name=TASK_NAMES["training"],
    queue=PIPELINE_QUEUE,
    priority=STEP_PRIORITY["training"],
    retry=RETRY,
    pass_context=True,
)
async def training(context: JobContext, session_id: str) -> None:
    await _run(context, "training", session_id)


@app.task(
    name=TASK_NAMES["archive"], queue=PIPELINE_QUEUE, priority=STEP_PRIORITY["archive"], retry=RETRY, pass_context=True
)
async def archive(context: JobContext, session_id: str) -> None:
    await _run(context, "archive", session_id)


async def start_pipeline(queue: App, db: Database, session_id: uuid.UUID) -> int:
    """Create the session's step rows (all 'pending') and defer the first step; returns the job id."""
    await init_steps(db, session_id)
    return await defer_step(queue, session_id, STEPS[0])


async def pipeline_busy(queue: App, session_id: uuid.UUID) -> bool:
    """Whether a job of the session's pipeline is queued or running."""
    jobs = await queue.job_manager.list_jobs_async(queueing_lock=pipeline_lock(session_id))
    return any(job.status in LIVE_JOB_STATUSES for job in jobs)


async def resume_pipeline(queue: App, db: Database, session_id: uuid.UUID) -> str:
    """Run a stopped pipeline again from its first unfinished step; returns that step.

    For a session whose step failed on every attempt (the session is 'failed'), or whose pipeline
    was never queued (the server went down between completing the session and deferring replay).
    A step that stays 'running' after its worker died is retried by workers.maintenance instead.
    Raises ResumeRefusedError when the session is still recording, a job of its pipeline is queued
    or running, or every step is done; LookupError when there is no such session.
    """
    async with db.session() as s:
        session = await s.get(Session, session_id)
    if session is None:
        raise LookupError(f"session {session_id} does not exist")
    if session.status == "recording":
        raise ResumeRefusedError(f"session {session_id} is still recording: complete it first")
    if await pipeline_busy(queue, session_id):
        raise ResumeRefusedError(f"session {session_id}: a pipeline job is already queued or running")
    summary = await session_status_summary(db, session_id)
    if summary.current_step is None:
        raise ResumeRefusedError(f"session {session_id}: every pipeline step is done")
    step = summary.current_step
    await init_steps(db, session_id)
    await record_step(db, session_id, step, "pending")
    async with db.session() as s:
        await set_session_status(s, session_id, "processing")
    try:
        await defer_step(queue, session_id, step)
    except AlreadyEnqueued as exc:  # another resume got there first
        raise ResumeRefusedError(f"session {session_id}: a pipeline job is already queued") from exc
    metrics.PIPELINE_RESUMES.labels(step=step).inc()
    return step
