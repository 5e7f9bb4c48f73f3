"""Queue depth for `/metrics`: procrastinate jobs waiting per queue, read from Postgres at scrape time.

The number is the database's, not a process's, so any web process can report it (each web replica
reports the same value: aggregate with max, not sum). The query is async and bounded by a timeout,
so a scrape never blocks the event loop or hangs on a busy database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog
from sqlalchemy import column, func, literal_column, table
from sqlmodel import select

from lab.db.engine import Database
from lab.monitoring.metrics import QUEUE_DEPTH, QUEUE_DEPTH_ERRORS

log = structlog.get_logger(__name__)

# A scrape waits at most this long for the count; Prometheus' own default scrape timeout is 10 s.
QUEUE_DEPTH_TIMEOUT_S = 2.0
# procrastinate's own table (its schema is applied by `codesight migrate`), not one of our models.
_JOBS = table("procrastinate_jobs", column("queue_name"), column("status"))
_TODO_BY_QUEUE = (
    select(_JOBS.c.queue_name, func.count())
    .where(_JOBS.c.status == literal_column("'todo'::procrastinate_job_status"))
    .group_by(_JOBS.c.queue_name)
)


async def queue_depths(db: Database) -> dict[str, int]:
    """Jobs in status 'todo' per queue name (queues with none are absent)."""
    async with db.session() as s:
        rows = (await s.exec(_TODO_BY_QUEUE)).all()
    return {str(name): int(count) for name, count in rows}


async def refresh_queue_depth(db: Database, queues: Iterable[str]) -> None:
    """Set the queue depth gauge: every known queue (0 when empty) plus any other queue with jobs waiting.

    When the database does not answer in time the gauge is emptied (no stale numbers), the failure is
    logged and counted, and the rest of /metrics is still served.
    """
    try:
        depths = await asyncio.wait_for(queue_depths(db), QUEUE_DEPTH_TIMEOUT_S)
    except Exception as exc:  # a timeout or any database failure: the rest of /metrics is still worth serving
        QUEUE_DEPTH.clear()
        QUEUE_DEPTH_ERRORS.inc()
        log.warning("metrics.queue_depth_failed", error=f"{type(exc).__name__}: {exc}")
        return
    QUEUE_DEPTH.clear()
    for queue in {*queues, *depths}:
        QUEUE_DEPTH.labels(queue=queue).set(depths.get(queue, 0))
