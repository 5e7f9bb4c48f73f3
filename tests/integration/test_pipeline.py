"""The pipeline against a real Postgres: steps, status rows, NOTIFY, retries, and the task chain.

Sessions are written the one way the product writes them (`lab.capture.ingest`). Replay needs
a browser and is covered by the replay tests; here reliabilities are set the way replay sets them.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image, ImageDraw
from procrastinate import App
from sqlmodel import col, select, update

from lab.capture import ingest
from lab.capture.wire import SessionOpen, parse_batch
from lab.db import Database
from lab.db.models import PipelineStep, SelectorCandidate, Session, TrainingExample
from lab.pipeline import STEPS, init_steps, record_step, run_step, session_status_summary
from lab.pipeline.status import NOTIFY_CHANNEL, StepState, summarize
from lab.pipeline.steps import summary_detail
from lab.storage.archive import archive_blob_key, open_archive
from lab.storage.blobs import LocalBlobStore
from lab.training.validate import validate_jsonl_text
from workers.context import use_resources
from workers.tasks import TASK_NAMES, start_pipeline

T0_MS = 1_735_689_600_000


def webp_data_url(blank: bool = False) -> str:
    image = Image.new("RGB", (640, 400), "white")
    if not blank:
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, 640, 50), fill=(20, 40, 120))
        for row in range(10):
            draw.rectangle((30, 80 + row * 25, 30 + 40 * (row + 3), 90 + row * 25), fill=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=80)
    return "data:image/webp;base64," + base64.b64encode(out.getvalue()).decode()


def candidates(*kinds: str) -> dict[str, Any]:
    return {
        "candidates": [{"kind": k, "selector": f"{k}-selector", "score": 1.0 - i / 10} for i, k in enumerate(kinds)]
    }


def wire_events() -> list[dict[str, Any]]:
    base = "http://127.0.0.1:9000/shop/v1"
    page = {"headings": ["Kettles"], "landmarks": ["main"], "outline": "h1 Kettles\n  button Add to cart"}
    return [
        {"type": "page", "seq": 0, "t": T0_MS, "url": f"{base}/index.html", "title": "Shop", "structure": page},
        {
            "type": "screenshot",
            "seq": 1,
            "t": T0_MS + 10,
            "url": f"{base}/index.html",
            "reason": "navigation",
            "for_seq": 0,
            "image": webp_data_url(),
            "width": 640,
            "height": 400,
        },
        {
            "type": "click",
            "seq": 2,
            "t": T0_MS + 20,
            "url": f"{base}/index.html",
            "target": {"tag": "a", "text": "Kettles", "role": "link"},
            "selectors": candidates("role", "text", "css"),
        },
        {
            "type": "screenshot",
            "seq": 3,
            "t": T0_MS + 30,
            "url": f"{base}/index.html",
            "reason": "click",
            "for_seq": 2,
            "image": webp_data_url(),
            "width": 640,
            "height": 400,
        },
        {
            "type": "page",
            "seq": 4,
            "t": T0_MS + 40,
            "url": f"{base}/kettles.html",
            "title": "Kettles",
            "structure": page,
        },
        {
            "type": "click",
            "seq": 5,
            "t": T0_MS + 50,
            "url": f"{base}/kettles.html",
            "target": {"tag": "button", "text": "Add to cart"},
            "selectors": candidates("testid", "css"),
        },
        {
            "type": "screenshot",
            "seq": 6,
            "t": T0_MS + 60,
            "url": f"{base}/kettles.html",
            "reason": "click",
            "for_seq": 5,
            "image": webp_data_url(blank=True),
            "width": 640,
            "height": 400,
        },
    ]


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def recorded_session(database: Database, blobs: LocalBlobStore) -> uuid.UUID:
    """A completed session written through ingest, with replay reliabilities on its candidates."""
    async with database.session() as s:
        session = await ingest.open_session(s, None, SessionOpen(site="shop", site_version="v1"))
        events, errors = parse_batch({"v": 1, "events": wire_events()})
        assert not errors
        await ingest.ingest_batch(s, blobs, session, events, errors)
        await ingest.complete_session(s, session)
        session_id = session.id
    async with database.session() as s:
        await s.exec(
            update(SelectorCandidate).where(col(SelectorCandidate.session_id) == session_id).values(reliability=0.75)
        )
    await init_steps(database, session_id)
    return session_id


@pytest.fixture
async def listener(db_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        yield conn


async def drain(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    return [json.loads(n.payload) async for n in conn.notifies(timeout=0.5)]


async def steps_by_name(database: Database, session_id: uuid.UUID) -> dict[str, PipelineStep]:
    async with database.session() as s:
        rows = (await s.exec(select(PipelineStep).where(PipelineStep.session_id == session_id))).all()
    return {row.step: row for row in rows}


async def test_quality_training_archive_fill_the_session(
    database: Database, blobs: LocalBlobStore, archive_key: bytes
) -> None:
    session_id = await recorded_session(database, blobs)

    for step in ("quality", "training", "archive"):
        await run_step(database, blobs, session_id, step)

    async with database.session() as s:
        session = await s.get(Session, session_id)
        examples = (await s.exec(select(TrainingExample).where(TrainingExample.session_id == session_id))).all()
    assert session is not None and session.status == "done"
    assert session.quality_score is not None and 40 < session.quality_score < 100
    assert "1 of 2 clicks had fewer than 3 selector kinds." in session.quality["feedback"]
    assert "1 of 3 screenshots looked blank or uniform." in session.quality["feedback"]
    assert len(examples) == 2 and all(ex.valid and ex.errors == [] for ex in examples)
    assert examples[0].body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/webp;base64,")

    assert session.archive_key == archive_blob_key(session_id)
    data = await blobs.get(session.archive_key)
    assert session.archive_bytes == len(data)
    archive = open_archive(data, archive_key)
    assert archive.session["session"]["id"] == str(session_id)
    assert [e["seq"] for e in archive.session["events"]] == list(range(7))
    assert sorted(archive.screenshots) == ["1.webp", "3.webp", "6.webp"]
    assert validate_jsonl_text(archive.training_jsonl).example_count == 2

    steps = await steps_by_name(database, session_id)
    assert {name: row.status for name, row in steps.items()} == {
        "replay": "pending",
        "quality": "done",
        "training": "done",
        "archive": "done",
    }
    detail = steps["training"].detail
    assert (detail["examples"], detail["with_screenshot"], detail["actions"]) == (2, 2, {"click": 2})
    assert detail["insights"]["adds_to_cart"] == 1 and detail["insights"]["abandoned"] is True
    assert [step["seq"] for step in detail["steps"]] == [2, 5]


async def test_failed_step_is_recorded_and_a_later_retry_clears_it(
    database: Database, blobs: LocalBlobStore, listener: psycopg.AsyncConnection[Any]
) -> None:
    session_id = await recorded_session(database, blobs)
    await drain(listener)
    shot_key = f"sessions/{session_id}/screenshots/3.webp"
    saved = await blobs.get(shot_key)
    await blobs.delete(shot_key)

    with pytest.raises(FileNotFoundError):
        await run_step(database, blobs, session_id, "quality")

    failed = (await steps_by_name(database, session_id))["quality"]
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error is not None and failed.last_error.startswith("FileNotFoundError")
    events = await drain(listener)
    assert [(e["type"], e["step"], e["status"]) for e in events] == [
        ("pipeline.step", "quality", "running"),
        ("pipeline.step", "quality", "failed"),
    ]
    assert events[1]["error"].startswith("FileNotFoundError")

    await blobs.put(shot_key, saved)
    await run_step(database, blobs, session_id, "quality")

    retried = (await steps_by_name(database, session_id))["quality"]
    assert (retried.status, retried.attempts, retried.last_error) == ("done", 2, None)
    assert [e["status"] for e in await drain(listener)] == ["running", "done"]


async def test_failure_on_the_final_attempt_fails_the_session(
    database: Database, blobs: LocalBlobStore, listener: psycopg.AsyncConnection[Any]
) -> None:
    session_id = await recorded_session(database, blobs)
    await blobs.delete(f"sessions/{session_id}/screenshots/1.webp")
    await drain(listener)

    with pytest.raises(FileNotFoundError):
        await run_step(database, blobs, session_id, "quality", final_attempt=True)

    async with database.session() as s:
        session = await s.get(Session, session_id)
    assert session is not None and session.status == "failed"
    assert {"type": "session.status", "session_id": str(session_id), "status": "failed"} in await drain(listener)


async def test_record_step_counts_attempts_and_rejects_unknown_names(database: Database, blobs: LocalBlobStore) -> None:
    session_id = await recorded_session(database, blobs)
    await record_step(database, session_id, "replay", "running")
    state = await record_step(database, session_id, "replay", "running")
    assert state.attempts == 2
    with pytest.raises(ValueError, match="step"):
        await record_step(database, session_id, "upload", "running")
    with pytest.raises(ValueError, match="status"):
        await record_step(database, session_id, "replay", "exploded")

    summary = await session_status_summary(database, session_id)
    assert summary.status == "running" and summary.current_step == "replay"
    assert [st.step for st in summary.steps] == list(STEPS)


def test_summary_of_step_rows() -> None:
    sid = uuid.uuid4()
    assert summarize(sid, []).status == "pending"
    done = [StepState(step, "done") for step in STEPS]
    assert summarize(sid, done).status == "done" and summarize(sid, done).current_step is None
    mixed = [StepState("replay", "done"), StepState("quality", "failed", attempts=3, last_error="boom")]
    summary = summarize(sid, mixed)
    assert (summary.status, summary.current_step) == ("failed", "quality")
    assert summary.to_dict()["steps"][1] == {
        "step": "quality",
        "status": "failed",
        "attempts": 3,
        "last_error": "boom",
        "updated_at": None,
    }


async def test_tasks_chain_from_quality_to_archive(
    database: Database, blobs: LocalBlobStore, pipeline_app: App, archive_key: bytes
) -> None:
    session_id = await recorded_session(database, blobs)

    with use_resources(database, blobs):
        await pipeline_app.configure_task(TASK_NAMES["quality"]).defer_async(session_id=str(session_id))
        await pipeline_app.run_worker_async(queues=["pipeline"], wait=False, install_signal_handlers=False)

    summary = await session_status_summary(database, session_id)
    assert [(st.step, st.status) for st in summary.steps] == [
        ("replay", "pending"),
        ("quality", "done"),
        ("training", "done"),
        ("archive", "done"),
    ]
    async with database.session() as s:
        session = await s.get(Session, session_id)
    assert session is not None and session.status == "done"


async def test_start_pipeline_creates_pending_steps_and_defers_replay(
    database: Database, blobs: LocalBlobStore, pipeline_app: App, db_url: str
) -> None:
    async with database.session() as s:
        session = await ingest.open_session(s, None, SessionOpen(site="shop"))
    job_id = await start_pipeline(pipeline_app, database, session.id)

    summary = await session_status_summary(database, session.id)
    assert summary.status == "pending" and [st.status for st in summary.steps] == ["pending"] * len(STEPS)
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cursor = await conn.execute(
            "SELECT task_name, queue_name, lock, args FROM procrastinate_jobs WHERE id = %s", (job_id,)
        )
        row = await cursor.fetchone()
    assert row == ("pipeline.replay", "pipeline", None, {"session_id": str(session.id)})


def test_replay_summary_becomes_json_detail() -> None:
    @dataclass
    class Summary:
        session_id: uuid.UUID
        mean_reliability: float | None

    sid = uuid.uuid4()
    assert summary_detail(Summary(sid, 0.5)) == {"summary": {"session_id": str(sid), "mean_reliability": 0.5}}


async def test_a_session_under_way_goes_before_a_new_one(database: Database, pipeline_app: App) -> None:
    """With more jobs waiting than workers, later steps are fetched first (workers.tasks.STEP_PRIORITY)."""
    from workers.tasks import defer_step

    async with database.session() as s:
        new = await ingest.open_session(s, None, SessionOpen(site="shop"))
        under_way = await ingest.open_session(s, None, SessionOpen(site="shop"))
    await defer_step(pipeline_app, new.id, "replay")  # queued first
    await defer_step(pipeline_app, under_way.id, "training")

    worker_id = await pipeline_app.job_manager.register_worker()
    first = await pipeline_app.job_manager.fetch_job(queues=["pipeline"], worker_id=worker_id)
    second = await pipeline_app.job_manager.fetch_job(queues=["pipeline"], worker_id=worker_id)

    assert first is not None and second is not None
    assert [(job.task_name, job.task_kwargs["session_id"]) for job in (first, second)] == [
        (TASK_NAMES["training"], str(under_way.id)),
        (TASK_NAMES["replay"], str(new.id)),
    ]
