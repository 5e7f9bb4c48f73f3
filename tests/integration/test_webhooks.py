"""Webhooks against a real HTTP endpoint (aiohttp) and real Postgres: events are queued with the change
that causes them, signed the Standard Webhooks way, retried on failure, given up on 410, never sent
for a rolled-back change and never twice for one event; a real worker sends them as sessions finish."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from procrastinate import App
from sqlmodel import col, select, update
from standardwebhooks import Webhook

from lab.config import Settings, get_settings
from lab.db import Database
from lab.db.models import Session, TrainingRun, WebhookDelivery
from lab.monitoring.webhooks import RETRY_DELAYS, deliver_due, enqueue, new_secret, run_finished, session_finished
from lab.storage.blobs import LocalBlobStore
from tests.conftest import LiveServer, _free_port
from tests.integration.test_pipeline import recorded_session
from workers.context import use_resources
from workers.tasks import TASK_NAMES


@dataclass
class Receiver:
    """An HTTP endpoint that answers with the queued statuses (200 once they run out) and keeps what it got."""

    url: str
    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def events(self, secret: str) -> list[dict[str, Any]]:
        """Every body received, each verified against its signature headers."""
        signer = Webhook(secret)
        return [signer.verify(body, headers) for headers, body in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = _free_port()
    endpoint = Receiver(f"http://127.0.0.1:{port}/hooks/codesight")

    async def hook(request: web.Request) -> web.Response:
        endpoint.received.append((dict(request.headers), await request.read()))
        return web.Response(status=endpoint.answers.pop(0) if endpoint.answers else 200, text="noted")

    app = web.Application()
    app.router.add_post("/hooks/codesight", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield endpoint
    finally:
        await runner.cleanup()


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch, receiver: Receiver, archive_key: bytes) -> Iterator[str]:
    """Settings with the receiver as the one webhook endpoint (and an archive key, for the pipeline)."""
    key = new_secret()
    monkeypatch.setenv("CODESIGHT_WEBHOOK_URLS", json.dumps([receiver.url]))
    monkeypatch.setenv("CODESIGHT_WEBHOOK_SECRET", key)
    get_settings.cache_clear()
    yield key
    get_settings.cache_clear()


async def deliveries(db: Database) -> list[WebhookDelivery]:
    async with db.session() as s:
        return list((await s.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.created_at)))).all())


async def finished_session(db: Database, status: str, review: str = "accepted") -> Session:
    async with db.session() as s:
        session = Session(site="shop", mode="automated", status=status, review_status=review, quality_score=61.5)
        s.add(session)
        await s.flush()
        await session_finished(s, session)
        return session


async def test_a_finished_session_is_posted_signed_once(
    db_url: str, database: Database, receiver: Receiver, secret: str
) -> None:
    session = await finished_session(database, "done", review="needs_review")
    async with database.session() as s:  # the same event again (a step retried): not sent twice
        again = await s.get(Session, session.id)
        assert again is not None
        assert await session_finished(s, again) == 0

    outcome = await deliver_due(database)

    assert (outcome.delivered, outcome.retrying, outcome.failed) == (2, 0, 0)
    events = receiver.events(secret)  # raises unless every signature matches its body
    assert sorted(e["type"] for e in events) == ["session.done", "session.needs_review"]
    assert events[0]["data"] | {"session_id": str(session.id)} == {
        "session_id": str(session.id),
        "site": "shop",
        "site_version": None,
        "mode": "automated",
        "status": "done",
        "quality_score": 61.5,
        "review_status": "needs_review",
    }
    ids = {headers["webhook-id"] for headers, _ in receiver.received}
    assert len(ids) == 2 and all(i.startswith("msg_") for i in ids)
    assert [(d.status, d.attempts, d.last_status_code) for d in await deliveries(database)] == [
        ("delivered", 1, 200)
    ] * 2
    assert await deliver_due(database) == type(outcome)(0, 0, 0)  # nothing left to send


async def test_a_failing_endpoint_is_retried_on_schedule_and_410_stops_it(
    database: Database, receiver: Receiver, secret: str
) -> None:
    receiver.answers = [503, 200]
    await finished_session(database, "failed")

    first = await deliver_due(database)
    [retrying] = await deliveries(database)
    assert (first.retrying, retrying.status, retrying.attempts, retrying.last_status_code) == (1, "pending", 1, 503)
    assert retrying.last_error is not None and retrying.last_error.startswith("HTTP 503: noted")
    waited = retrying.next_attempt_at - retrying.created_at
    assert RETRY_DELAYS[0] <= waited < RETRY_DELAYS[0] + RETRY_DELAYS[0]
    assert (await deliver_due(database)).retrying == 0, "not due before its delay"

    async with database.session() as s:  # the delay passes
        await s.exec(update(WebhookDelivery).values(next_attempt_at=retrying.created_at))
    second = await deliver_due(database)
    [delivered] = await deliveries(database)
    assert (second.delivered, delivered.status, delivered.attempts, delivered.last_error) == (1, "delivered", 2, None)
    assert [e["type"] for e in receiver.events(secret)] == ["session.failed", "session.failed"]
    assert len({headers["webhook-id"] for headers, _ in receiver.received}) == 1, "a retry keeps its message id"

    receiver.answers = [410]
    await finished_session(database, "done")
    gone = await deliver_due(database)
    assert (gone.failed, (await deliveries(database))[-1].status) == (1, "failed")


async def test_an_unreachable_endpoint_is_retried_with_the_error_kept(database: Database, secret: str) -> None:
    closed = f"http://127.0.0.1:{_free_port()}/nobody-listens"
    settings = get_settings().model_copy(update={"webhook_urls": [closed]})
    async with database.session() as s:
        await enqueue(s, "webhook.test", "1", {"message": "hello"}, settings)
    outcome = await deliver_due(database, settings)
    [row] = await deliveries(database)
    assert outcome.retrying == 1 and row.last_status_code is None
    assert row.last_error is not None and row.last_error.startswith("ConnectError")


async def test_a_rolled_back_change_sends_nothing(database: Database, receiver: Receiver, secret: str) -> None:
    with pytest.raises(RuntimeError):
        async with database.session() as s:
            session = Session(site="shop", status="done")
            s.add(session)
            await s.flush()
            await session_finished(s, session)
            raise RuntimeError("the change fails after queueing its event")
    assert await deliveries(database) == []


async def test_a_run_that_ends_is_announced_once(database: Database, receiver: Receiver, secret: str) -> None:
    async with database.session() as s:
        run = TrainingRun(site="shop", provider="openai", model="gpt-4o-2024-08-06", status="running")
        s.add(run)
        await s.flush()
        assert await run_finished(s, run) == 0  # still running: nothing to say
        run.status, run.error_code, run.error_message = "failed", "invalid_file", "line 3: no assistant message"
        assert await run_finished(s, run) == 1
        assert await run_finished(s, run) == 0
    await deliver_due(database)
    [event] = receiver.events(secret)
    assert event["type"] == "training.run.failed"
    assert event["data"]["error"] == {"code": "invalid_file", "message": "line 3: no assistant message"}


async def test_a_worker_posts_the_event_as_the_pipeline_finishes(
    database: Database, pipeline_app: App, tmp_path: Path, receiver: Receiver, secret: str
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    session_id = await recorded_session(database, blobs)
    with use_resources(database, blobs):
        await pipeline_app.configure_task(TASK_NAMES["quality"]).defer_async(session_id=str(session_id))
        await pipeline_app.run_worker_async(queues=["pipeline"], wait=False, install_signal_handlers=False)

    by_type = {e["type"]: e for e in receiver.events(secret)}
    assert by_type["session.done"]["data"]["session_id"] == str(session_id)
    async with database.session() as s:
        session = await s.get(Session, session_id)
    assert session is not None and session.status == "done"
    assert ("session.needs_review" in by_type) == (session.review_status == "needs_review")
    assert {d.status for d in await deliveries(database)} == {"delivered"}


@pytest.mark.parametrize(
    ("values", "field_named"),
    [
        ({"webhook_urls": ["https://hooks.example/x"]}, "CODESIGHT_WEBHOOK_SECRET"),
        ({"webhook_urls": ["ftp://hooks.example/x"], "webhook_secret": "whsec_x"}, "CODESIGHT_WEBHOOK_URLS"),
        ({"webhook_events": ["session.exploded"]}, "CODESIGHT_WEBHOOK_EVENTS"),
    ],
)
def test_webhook_settings_name_the_field_that_is_wrong(values: dict[str, Any], field_named: str) -> None:
    with pytest.raises(ValueError, match=field_named):
        Settings(**values)


async def test_admins_send_a_test_event_and_read_the_deliveries(
    receiver: Receiver, secret: str, live_server: LiveServer
) -> None:
    headers = {"Authorization": f"Bearer {live_server.user_token}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers) as client:
        queued = await client.post("/api/v1/webhooks/test")
        await live_server.services.queue.run_worker_async(
            queues=["pipeline"], wait=False, install_signal_handlers=False
        )
        listed = await client.get("/api/v1/webhooks/deliveries", params={"limit": 5})
        refused = await client.get("/api/v1/webhooks/deliveries", headers={"Authorization": "Bearer csu_nobody"})
    assert queued.status_code == 202 and queued.json() == {"queued": 1}
    assert [e["type"] for e in receiver.events(secret)] == ["webhook.test"]
    [row] = listed.json()
    assert (row["event_type"], row["status"], row["last_status_code"], row["url"]) == (
        "webhook.test",
        "delivered",
        200,
        receiver.url,
    )
    assert refused.status_code == 401


async def test_erasing_a_session_takes_its_webhook_events_with_it(
    database: Database, receiver: Receiver, secret: str, tmp_path: Path
) -> None:
    from lab.privacy.erase import erase_session

    erased, kept = await finished_session(database, "done"), await finished_session(database, "failed")

    async def never_busy(session_id: uuid.UUID) -> bool:
        return False

    report = await erase_session(database, LocalBlobStore(tmp_path / "blobs"), erased.id, busy=never_busy)

    assert report.rows_deleted["webhook_deliveries"] == 1
    assert [d.payload["data"]["session_id"] for d in await deliveries(database)] == [str(kept.id)]


async def test_a_deploy_from_the_dashboard_is_announced_at_once(
    receiver: Receiver, secret: str, live_server: LiveServer
) -> None:
    db, queue = live_server.services.db, live_server.services.queue
    async with db.session() as s:
        run = TrainingRun(
            site="shop",
            provider="openai",
            model="gpt-4o-2024-08-06",
            status="succeeded",
            fine_tuned_model="ft:gpt-4o-2024-08-06:codesight::shop1",
        )
        s.add(run)
    headers = {"Authorization": f"Bearer {live_server.user_token}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers) as client:
        deployed = await client.post(f"/api/v1/training/runs/{run.id}/deploy")
    assert deployed.status_code == 200, deployed.text
    waiting = await queue.job_manager.list_jobs_async(task="maintenance.deliver_webhooks", status="todo")
    assert len(list(waiting)) == 1, "a delivery round is queued with the deploy, not left to the minute's round"

    await queue.run_worker_async(queues=["pipeline"], wait=False, install_signal_handlers=False)
    [event] = [e for e in receiver.events(secret) if e["type"] == "model.deployed"]
    assert event["data"] == {
        "site": "shop",
        "model": "ft:gpt-4o-2024-08-06:codesight::shop1",
        "run_id": str(run.id),
        "rolled_back": None,
    }
