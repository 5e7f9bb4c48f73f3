"""`codesight worker --metrics-port`: a worker in its own process serves its own pipeline metrics.

The worker runs as `codesight worker` runs in compose.yaml, in a separate process over this test's
database and blob folder, so nothing it counts could reach the test process's registry: what its port
serves is its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families

from lab.db import Database
from lab.db.models import Session
from lab.storage.blobs import LocalBlobStore
from tests.integration.test_pipeline import recorded_session
from workers.app import open_app
from workers.tasks import TASK_NAMES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The worker process imports the app and connects before it serves; a loaded 2-core machine is slow.
STARTUP_TIMEOUT_S = 60.0
PIPELINE_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def session_status(db: Database, session_id: object) -> str:
    async with db.session() as s:
        session = await s.get(Session, session_id)
    assert session is not None
    return session.status


async def test_worker_serves_its_pipeline_metrics_on_its_own_port(
    database: Database, db_url: str, tmp_path: Path
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    session_id = await recorded_session(database, blobs)
    port = free_port()
    env = {
        **os.environ,
        "CODESIGHT_DATABASE_URL": db_url,
        "CODESIGHT_BLOB_DIR": str(blobs.root),
        "CODESIGHT_HOME": str(tmp_path / "home"),
        "CODESIGHT_ARCHIVE_KEY": Fernet.generate_key().decode(),
    }
    env.pop("CODESIGHT_S3_BUCKET", None)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        "worker",
        "--queues",
        "pipeline",
        "--metrics-port",
        str(port),
        cwd=PROJECT_ROOT,
        env=env,
    )
    try:
        async with open_app(db_url) as app:
            await app.configure_task(TASK_NAMES["quality"]).defer_async(session_id=str(session_id))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PIPELINE_TIMEOUT_S
        while await session_status(database, session_id) != "done":
            assert worker.returncode is None, "the worker exited"
            assert loop.time() < deadline, "the worker did not finish the session's steps"
            await asyncio.sleep(0.2)
        async with httpx.AsyncClient() as client:
            scraped = samples((await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text)
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), STARTUP_TIMEOUT_S)

    def value(name: str, **labels: str) -> float:
        return scraped.get((name, frozenset(labels.items())), 0.0)

    # A fresh process: its counters hold exactly this session's steps.
    for step in ("quality", "training", "archive"):
        assert value("codesight_pipeline_steps_total", step=step, outcome="done") == 1, step
        assert value("codesight_pipeline_step_seconds_count", step=step) == 1, step
    assert value("codesight_pipeline_steps_total", step="replay", outcome="done") == 0
    assert value("codesight_pipeline_sessions_total", status="done") == 1
    assert worker.returncode == 0
