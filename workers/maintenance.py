"""Housekeeping the workers do by themselves: jobs of a worker that died are queued again,
webhook deliveries go out (lab.monitoring.webhooks), and archived sessions' working copies
expire (lab.storage.retention).

A worker killed mid-job (OOM, SIGKILL, a machine reboot) leaves its job 'doing' for ever, and the
session's pipeline or the fine-tuning run waits on it. Procrastinate's workers send a heartbeat
every few seconds; once a minute, any worker's periodic deferrer queues `retry_stalled_jobs`, which
puts the jobs of workers silent for STALLED_AFTER_SECONDS back to 'todo' (the way procrastinate's
documentation recommends). Every pipeline step and training task is safe to run again.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import structlog
from procrastinate import App, JobContext
from procrastinate.exceptions import AlreadyEnqueued

from lab.config import get_settings
from lab.monitoring import metrics, webhooks
from lab.storage.retention import expire_working_copies
from workers.app import PIPELINE_QUEUE, app
from workers.context import get_resources

log = structlog.get_logger(__name__)

RETRY_STALLED_TASK = "maintenance.retry_stalled_jobs"
# Procrastinate's workers beat every 10 s. Its docs use 30 s; twelve missed beats leave room for an
# event loop held up by CPU-bound work on a loaded machine, where a live job must never be run twice.
STALLED_AFTER_SECONDS = 120
# Housekeeping jobs are short and unblock others (a stalled job, a waiting endpoint): ahead of any step.
MAINTENANCE_PRIORITY = 10


@app.periodic(cron="* * * * *", periodic_id="retry-stalled-jobs")
@app.task(
    name=RETRY_STALLED_TASK,
    queue=PIPELINE_QUEUE,
    queueing_lock=RETRY_STALLED_TASK,
    priority=MAINTENANCE_PRIORITY,
    pass_context=True,
)
async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
    """Queue again every job whose worker stopped beating; returns how many."""
    return await requeue_stalled(context.app, STALLED_AFTER_SECONDS)


async def requeue_stalled(queue: App, seconds_since_heartbeat: float) -> int:
    """Put the 'doing' jobs of workers silent for `seconds_since_heartbeat` back to 'todo'."""
    stalled = list(await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat))
    for job in stalled:
        log.warning(
            "jobs.stalled_retried",
            job_id=job.id,
            task=job.task_name,
            task_kwargs=job.task_kwargs,
            worker_id=job.worker_id,
        )
        await queue.job_manager.retry_job(job)
        metrics.STALLED_JOBS_RETRIED.labels(task=job.task_name).inc()
    return len(stalled)


DELIVER_WEBHOOKS_TASK = "maintenance.deliver_webhooks"
WEBHOOK_ROUND = 100


@app.task(
    name=DELIVER_WEBHOOKS_TASK, queue=PIPELINE_QUEUE, queueing_lock=DELIVER_WEBHOOKS_TASK, priority=MAINTENANCE_PRIORITY
)
async def deliver_webhooks() -> None:
    """POST the webhook deliveries that are due, a round of WEBHOOK_ROUND at a time until none is left."""
    await _deliver_all()


@app.periodic(cron="* * * * *", periodic_id="deliver-webhooks")
@app.task(
    name="maintenance.deliver_webhooks_periodic",
    queue=PIPELINE_QUEUE,
    queueing_lock="deliver_webhooks_periodic",
    priority=MAINTENANCE_PRIORITY,
)
async def deliver_webhooks_periodically(timestamp: int) -> None:
    """Once a minute: retries whose time has come (and anything a crash left behind)."""
    if get_settings().webhook_urls:
        await _deliver_all()


async def _deliver_all() -> None:
    db = get_resources().db
    while True:
        outcome = await webhooks.deliver_due(db, limit=WEBHOOK_ROUND)
        handled = outcome.delivered + outcome.retrying + outcome.failed
        if handled:
            log.info("webhooks.round", **vars(outcome))
        if handled < WEBHOOK_ROUND:
            return


async def kick_webhooks(queue: App) -> None:
    """Queue a delivery round now, when webhooks are configured (after a step that may have queued events)."""
    if not get_settings().webhook_urls:
        return
    with contextlib.suppress(AlreadyEnqueued):  # a round is already waiting: it will send these too
        await queue.configure_task(DELIVER_WEBHOOKS_TASK).defer_async()


EXPIRE_WORKING_COPIES_TASK = "maintenance.expire_working_copies"


@app.periodic(cron="17 * * * *", periodic_id="expire-working-copies")
@app.task(
    name=EXPIRE_WORKING_COPIES_TASK,
    queue=PIPELINE_QUEUE,
    queueing_lock=EXPIRE_WORKING_COPIES_TASK,
    priority=MAINTENANCE_PRIORITY,
)
async def expire_working_copies_periodically(timestamp: int) -> int:
    """Once an hour: delete the loose files of sessions archived CODESIGHT_WORKING_COPY_DAYS ago; returns how many."""
    resources = get_resources()
    report = await expire_working_copies(resources.db, resources.blobs, get_settings(), datetime.now(UTC))
    return len(report.expired)
