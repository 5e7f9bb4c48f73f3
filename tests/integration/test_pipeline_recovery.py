"""A stopped pipeline starts again: a step that failed on every attempt is resumed by a reviewer,
a complete whose pipeline was never queued queues it when retried, and a job whose worker died
is queued again by the workers' periodic sweep. Real Postgres, real procrastinate, real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from procrastinate import App

from lab.accounts import add_user
from lab.capture import ingest
from lab.capture.wire import SessionOpen
from lab.db import Database
from lab.db.models import Session
from lab.pipeline import record_step, run_step, session_status_summary
from lab.storage.blobs import LocalBlobStore
from tests.conftest import LiveServer
from tests.integration.test_pipeline import recorded_session
from workers.maintenance import requeue_stalled
from workers.tasks import TASK_NAMES, defer_step, pipeline_lock


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def session_status(db: Database, session_id: uuid.UUID) -> str:
    async with db.session() as s:
        session = await s.get(Session, session_id)
    assert session is not None
    return session.status


async def live_jobs(queue: App, session_id: uuid.UUID) -> list[tuple[str, str]]:
    jobs = await queue.job_manager.list_jobs_async(queueing_lock=pipeline_lock(session_id))
    return [(job.task_name, str(job.status)) for job in jobs if job.status in ("todo", "doing")]


async def failed_session(server: LiveServer) -> tuple[uuid.UUID, str, bytes]:
    """A session whose quality step failed on its final attempt (a screenshot went missing)."""
    db, blobs = server.services.db, server.local_blobs
    session_id = await recorded_session(db, blobs)
    await record_step(db, session_id, "replay", "done")  # replay needs the site; its scores are set already
    key = f"sessions/{session_id}/screenshots/3.webp"
    saved = await blobs.get(key)
    await blobs.delete(key)
    with pytest.raises(FileNotFoundError):
        await run_step(db, blobs, session_id, "quality", final_attempt=True)
    assert await session_status(db, session_id) == "failed"
    return session_id, key, saved


async def test_a_reviewer_resumes_a_failed_pipeline_at_its_failed_step(
    live_server: LiveServer, archive_key: bytes
) -> None:
    server, queue = live_server, live_server.services.queue
    session_id, key, saved = await failed_session(server)
    await server.services.blobs.put(key, saved)  # the operator fixed what the error said
    url = f"{server.url}/api/v1/sessions/{session_id}/pipeline/resume"

    async with httpx.AsyncClient() as client:
        resumed = await client.post(url, headers=auth(server.user_token))
        again = await client.post(url, headers=auth(server.user_token))
    assert resumed.status_code == 202, resumed.text
    assert resumed.json() == {"id": str(session_id), "status": "processing", "step": "quality"}
    assert again.status_code == 409 and "already queued or running" in again.json()["detail"]
    assert await live_jobs(queue, session_id) == [(TASK_NAMES["quality"], "todo")]
    assert await session_status(server.services.db, session_id) == "processing"

    await queue.run_worker_async(queues=["pipeline"], wait=False, install_signal_handlers=False)

    summary = await session_status_summary(server.services.db, session_id)
    assert [st.status for st in summary.steps] == ["done"] * 4
    assert await session_status(server.services.db, session_id) == "done"
    async with httpx.AsyncClient() as client:
        finished = await client.post(url, headers=auth(server.user_token))
    assert finished.status_code == 409 and "every pipeline step is done" in finished.json()["detail"]


async def test_resume_is_refused_to_viewers_and_for_sessions_still_recording(live_server: LiveServer) -> None:
    server = live_server
    async with server.services.db.session() as s:
        recording = await ingest.open_session(s, None, SessionOpen(site="shop"))
        _, viewer_token = await add_user(s, "vera", "viewer")
    async with httpx.AsyncClient(base_url=server.url) as client:
        as_viewer = await client.post(f"/api/v1/sessions/{recording.id}/pipeline/resume", headers=auth(viewer_token))
        still_recording = await client.post(
            f"/api/v1/sessions/{recording.id}/pipeline/resume", headers=auth(server.user_token)
        )
        unknown = await client.post(f"/api/v1/sessions/{uuid.uuid4()}/pipeline/resume", headers=auth(server.user_token))
    assert as_viewer.status_code == 403
    assert still_recording.status_code == 409 and "still recording" in still_recording.json()["detail"]
    assert unknown.status_code == 404
    assert await live_jobs(server.services.queue, recording.id) == []


async def test_the_status_card_offers_run_again_and_shows_why_it_was_refused(
    live_server: LiveServer, archive_key: bytes
) -> None:
    server = live_server
    session_id, key, saved = await failed_session(server)
    await server.services.blobs.put(key, saved)
    headers = {**auth(server.user_token), "HX-Request": "true"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
        card = await client.get(f"/sessions/{session_id}/status")
        resumed = await client.post(f"/sessions/{session_id}/pipeline/resume")
        refused = await client.post(f"/sessions/{session_id}/pipeline/resume")
    assert "Run again from quality" in card.text
    assert resumed.status_code == 200 and "Run again" not in resumed.text  # processing again
    assert refused.status_code == 409 and "already queued or running" in refused.text
    assert 'class="status-card"' in refused.text


async def test_a_retried_complete_queues_a_pipeline_the_first_one_never_queued(live_server: LiveServer) -> None:
    server = live_server
    async with httpx.AsyncClient(base_url=server.url, headers=auth(server.participant_token)) as client:
        opened = (await client.post("/api/v1/sessions", json={"site": "shop"})).json()
        session_id = uuid.UUID(opened["id"])
        # The first complete committed the session's end, then the server died before queueing replay.
        async with server.services.db.session() as s:
            session = await s.get(Session, session_id)
            assert session is not None
            assert await ingest.complete_session(s, session)
        assert await live_jobs(server.services.queue, session_id) == []

        retried = await client.post(f"/api/v1/sessions/{session_id}/complete")
        once_more = await client.post(f"/api/v1/sessions/{session_id}/complete")
    assert retried.status_code == 202 and retried.json()["status"] == "processing"
    assert once_more.status_code == 202
    assert await live_jobs(server.services.queue, session_id) == [(TASK_NAMES["replay"], "todo")]


async def test_the_job_of_a_worker_that_died_is_queued_again(
    database: Database, pipeline_app: App, tmp_path: Path
) -> None:
    session_id = await recorded_session(database, LocalBlobStore(tmp_path / "blobs"))
    await defer_step(pipeline_app, session_id, "quality")
    # A worker registers, takes the job, and is killed: it never beats again nor finishes the job.
    worker_id = await pipeline_app.job_manager.register_worker()
    job = await pipeline_app.job_manager.fetch_job(queues=["pipeline"], worker_id=worker_id)
    assert job is not None and job.task_name == TASK_NAMES["quality"]
    assert await requeue_stalled(pipeline_app, seconds_since_heartbeat=60) == 0  # it beat a moment ago

    await asyncio.sleep(1.2)
    assert await requeue_stalled(pipeline_app, seconds_since_heartbeat=1) == 1

    assert await live_jobs(pipeline_app, session_id) == [(TASK_NAMES["quality"], "todo")]
