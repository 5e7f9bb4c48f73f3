"""The procrastinate App of the pipeline: tasks in workers.tasks register on `app`.

Procrastinate binds every task to one App object, so there is exactly one; a process points it
at its database with `create_app` (for its lifetime) or `open_app` (for a block, e.g. a test).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from procrastinate import App, PsycopgConnector

from lab.config import Settings
from lab.db.embedded import database_url
from lab.db.engine import plain_url
from workers.context import close_browser

PIPELINE_QUEUE = "pipeline"
# Fine-tuning runs (upload, follow a job for hours, evaluate) wait on a provider: their own queue and
# worker, so they never hold a slot a session's pipeline needs.
TRAINING_QUEUE = "training"
QUEUES = (PIPELINE_QUEUE, TRAINING_QUEUE)
TRAINING_CONCURRENCY = 1
TASK_MODULES = ["workers.tasks", "workers.training_tasks", "workers.maintenance"]

# Unconnected until `create_app`/`open_app`; tasks use `@app.task(queue=PIPELINE_QUEUE, ...)`.
app = App(connector=PsycopgConnector(), import_paths=TASK_MODULES)


def make_connector(conninfo: str) -> PsycopgConnector:
    """A psycopg connector for any Postgres URL form (`postgresql+asyncpg://` included)."""
    return PsycopgConnector(conninfo=plain_url(conninfo))


def create_app(conninfo: str) -> App:
    """The pipeline App, tasks included, pointed at `conninfo` from now on; open it before use."""
    connector = make_connector(conninfo)
    app.connector = connector
    app.job_manager.connector = connector
    return app


def app_from_settings(settings: Settings) -> App:
    """The pipeline App on the database the settings name (the embedded cluster by default)."""
    return create_app(database_url(settings))


@asynccontextmanager
async def open_app(conninfo: str) -> AsyncIterator[App]:
    """The pipeline App connected to `conninfo` for the block; its previous connector is restored after."""
    with app.replace_connector(make_connector(conninfo)) as connected:
        async with connected.open_async():
            yield connected


async def run_workers(queue_app: App, concurrency: int, queues: Sequence[str] = QUEUES) -> None:
    """One worker per queue until cancelled: `concurrency` jobs at once on the pipeline queue,
    TRAINING_CONCURRENCY on the training queue; the replay browser is closed when they stop.
    Signal handling is the caller's."""
    try:
        await asyncio.gather(
            *(
                queue_app.run_worker_async(
                    queues=[name],
                    name=f"{name}-worker",
                    concurrency=TRAINING_CONCURRENCY if name == TRAINING_QUEUE else concurrency,
                    install_signal_handlers=False,
                )
                for name in queues
            )
        )
    finally:
        await close_browser()
