"""Live status over Server-Sent Events, end to end: real Postgres NOTIFY, the app's one LISTEN, httpx streams.

Statuses change through the functions the pipeline and ingest use (`record_step`, the ingest API),
so an event here is an event a dashboard page would get.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from procrastinate import App

from lab.accounts import add_user
from lab.config import get_settings
from lab.db import Database
from lab.db.notify import NOTIFY_CHANNEL
from lab.pipeline import record_step
from lab.storage.blobs import LocalBlobStore
from lab.training.fake_openai import FakeOpenAI, serve_fake_openai
from tests.conftest import LiveServer, _free_port
from tests.integration.training_support import fake_settings, record_trainable_site, running_worker
from web.app import create_app
from web.live.listener import APPLICATION_NAME
from web.server import make_server
from web.services import Services

# Generous: a loaded CI machine, not the figure we report (see test_status_change_latency).
EVENT_TIMEOUT_S = 10.0
LATENCY_SAMPLES = 50


class StreamEnded(Exception):
    """The server finished the response."""


@dataclass(frozen=True)
class SSE:
    event: str
    data: dict[str, Any]


class EventReader:
    """Parses a text/event-stream response into events (comments and ids skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, timeout_s: float = EVENT_TIMEOUT_S) -> SSE:
        return await asyncio.wait_for(self._next(), timeout_s)

    async def _next(self) -> SSE:
        event, data = "message", []
        async for line in self._lines:
            if line == "":
                if data:
                    return SSE(event, json.loads("\n".join(data)))
                event = "message"
            elif line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
        raise StreamEnded

    async def until(self, predicate: Any, timeout_s: float = EVENT_TIMEOUT_S) -> SSE:
        """The first event for which `predicate(event)` holds, skipping others."""
        deadline = time.monotonic() + timeout_s
        while True:
            event = await self.next(max(0.0, deadline - time.monotonic()))
            if predicate(event):
                return event


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def sse_stream(
    client: httpx.AsyncClient, server: LiveServer, path: str, *, read_ready: bool = True
) -> AsyncIterator[EventReader]:
    """An open stream as a signed-in user; once `ready` has arrived the server is subscribed."""
    async with client.stream("GET", server.url + path, headers=auth(server.user_token)) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = EventReader(response)
        if read_ready:
            assert (await reader.next()).event == "ready"
        yield reader


async def open_session(client: httpx.AsyncClient, server: LiveServer) -> uuid.UUID:
    r = await client.post(
        f"{server.url}/api/v1/sessions",
        json={"v": 1, "mode": "automated", "site": "shop", "site_version": "v1"},
        headers=auth(server.participant_token),
    )
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["id"])


def client_for_streams() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0))


@pytest.fixture
async def fake_provider(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    """Every fine-tuning provider pointed at the local OpenAI-compatible server, whose jobs move every 50 ms
    (ask for it before `live_server`, so the web app's settings see it)."""
    fake = FakeOpenAI(phase_s=0.05)
    async with serve_fake_openai(fake) as running:
        with fake_settings(monkeypatch, running):
            yield fake


async def test_stream_needs_a_dashboard_user(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{live_server.url}/live/sessions")
        assert r.status_code == 401
        r = await client.get(f"{live_server.url}/live/sessions", headers=auth(live_server.participant_token))
        assert r.status_code == 401


async def test_step_change_reaches_its_session_stream_only(live_server: LiveServer) -> None:
    db = live_server.services.db
    async with client_for_streams() as client:
        mine, other = await open_session(client, live_server), await open_session(client, live_server)
        async with sse_stream(client, live_server, f"/live/sessions/{mine}") as stream:
            await record_step(db, other, "replay", "running")
            await record_step(db, mine, "replay", "running")
            # The session.opened notification may still be on its way when the stream subscribes.
            event = await stream.until(lambda e: e.data["type"] != "session.opened")
            assert event.event == "session-status"
            assert event.data["session_id"] == str(mine)
            assert (event.data["type"], event.data["step"], event.data["status"]) == (
                "pipeline.step",
                "replay",
                "running",
            )


async def test_session_list_stream_follows_ingest(live_server: LiveServer) -> None:
    async with client_for_streams() as client, sse_stream(client, live_server, "/live/sessions") as stream:
        sid = await open_session(client, live_server)
        opened = await stream.next()
        assert (opened.event, opened.data["type"], opened.data["session_id"]) == (
            "session-status",
            "session.opened",
            str(sid),
        )
        page = {"type": "page", "seq": 0, "t": int(time.time() * 1000), "url": "http://shop.test/v1/", "title": "Shop"}
        r = await client.post(
            f"{live_server.url}/api/v1/sessions/{sid}/events",
            json={"v": 1, "events": [page]},
            headers=auth(live_server.participant_token),
        )
        assert r.status_code in (200, 202), r.text
        stored = await stream.next()
        assert (stored.event, stored.data["session_id"], stored.data["accepted"]) == ("session-events", str(sid), 1)
        r = await client.post(
            f"{live_server.url}/api/v1/sessions/{sid}/complete", headers=auth(live_server.participant_token)
        )
        assert r.status_code < 300, r.text
        ended = await stream.next()
        assert (ended.event, ended.data["type"], ended.data["status"]) == (
            "session-status",
            "session.status",
            "processing",
        )
        started = await stream.next()
        assert (started.event, started.data["type"]) == ("session-status", "pipeline.init")


async def test_a_client_that_never_reads_does_not_hold_back_another(live_server: LiveServer, db_url: str) -> None:
    """One stream stops reading (a tiny receive buffer, so the server's writes to it block soon) while
    megabytes of notifications go by; the other stream still gets the status change that follows."""
    db = live_server.services.db
    tiny_buffer = httpx.AsyncHTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    async with (
        client_for_streams() as client,
        httpx.AsyncClient(transport=tiny_buffer, timeout=httpx.Timeout(30.0)) as stalled_client,
    ):
        sid = await open_session(client, live_server)
        async with (
            sse_stream(stalled_client, live_server, f"/live/sessions/{sid}"),
            sse_stream(client, live_server, f"/live/sessions/{sid}") as reader,
        ):
            flood = 1500  # x ~6 KB: ~9 MB, far beyond what socket buffers hold for the stalled client
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
                await conn.execute(
                    "SELECT pg_notify(%s, json_build_object('type', 'session.status', 'session_id', %s::text,"
                    " 'status', 'running', 'n', n, 'padding', repeat('x', 6000))::text)"
                    " FROM generate_series(1, %s) AS n",
                    (NOTIFY_CHANNEL, str(sid), flood),
                )
            started = time.monotonic()
            await record_step(db, sid, "replay", "done")
            done = await reader.until(lambda e: e.data.get("type") == "pipeline.step", timeout_s=30.0)
            assert (done.data["session_id"], done.data["status"]) == (str(sid), "done")
            assert time.monotonic() - started < 30.0


async def test_streams_resync_after_the_listener_loses_its_connection(live_server: LiveServer, db_url: str) -> None:
    """Notifications sent while LISTEN is down are lost, so every stream is told to re-fetch; then events flow again."""
    db = live_server.services.db
    async with client_for_streams() as client:
        sid = await open_session(client, live_server)
        async with sse_stream(client, live_server, f"/live/sessions/{sid}") as stream:
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as admin:
                cursor = await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = %s AND datname = current_database()",
                    (APPLICATION_NAME,),
                )
                assert [row[0] for row in await cursor.fetchall()] == [True]
            resync = await stream.until(lambda e: e.data["type"] != "session.opened")
            assert (resync.event, resync.data["type"]) == ("session-status", "live.resync")
            await record_step(db, sid, "replay", "running")
            event = await stream.next()
            assert (event.data["session_id"], event.data["status"]) == (str(sid), "running")


async def test_server_shutdown_ends_open_streams(database: Database, pipeline_app: App, tmp_path: Any) -> None:
    """Uvicorn waits for open responses before it stops; a live stream must end rather than hang Ctrl-C."""
    async with database.session() as s:
        _, user_token = await add_user(s, "alice", "viewer")
    services = Services(get_settings(), database, LocalBlobStore(tmp_path / "blobs"), pipeline_app)
    port = _free_port()
    server = make_server(create_app(services), "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    await server.wait_started(task)
    try:
        async with (
            client_for_streams() as client,
            client.stream("GET", f"http://127.0.0.1:{port}/live/sessions", headers=auth(user_token)) as response,
        ):
            reader = EventReader(response)
            assert (await reader.next()).event == "ready"
            server.should_exit = True
            await asyncio.wait_for(task, 10)
            with pytest.raises(StreamEnded):
                await reader.next()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_status_change_latency(live_server: LiveServer) -> None:
    """Median time from a status write (record_step, committed with its NOTIFY) to the event in a client."""
    db = live_server.services.db
    latencies_ms: list[float] = []
    async with client_for_streams() as client:
        sid = await open_session(client, live_server)
        async with sse_stream(client, live_server, f"/live/sessions/{sid}") as stream:
            for n in range(LATENCY_SAMPLES):
                status = "running" if n % 2 == 0 else "done"
                started = time.perf_counter()
                await record_step(db, sid, "quality", status)
                event = await stream.until(lambda e: e.data["type"] == "pipeline.step")
                latencies_ms.append((time.perf_counter() - started) * 1000)
                assert (event.data["session_id"], event.data["status"]) == (str(sid), status)
    median = statistics.median(latencies_ms)
    p90 = statistics.quantiles(latencies_ms, n=10)[-1]
    print(f"\nlive status latency over {LATENCY_SAMPLES} changes: median {median:.1f} ms, p90 {p90:.1f} ms")
    assert median < 1000, latencies_ms


async def test_training_run_changes_reach_its_run_stream_only(
    fake_provider: FakeOpenAI, live_server: LiveServer, db_url: str
) -> None:
    """A run started over the API and driven by a real worker: every status it passes through, its evaluation
    and its deployment reach the training stream, and the run's own stream gets its events and no other run's."""
    services = live_server.services
    await record_trainable_site(services.db, services.blobs)
    async with (
        client_for_streams() as client,
        sse_stream(client, live_server, "/live/training") as every_run,
        running_worker(services.queue),
    ):
        r = await client.post(
            f"{live_server.url}/api/v1/training/runs", json={"site": "shop"}, headers=auth(live_server.user_token)
        )
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        created = await every_run.until(lambda e: e.data["type"] == "training.run")
        assert (created.event, created.data["run_id"], created.data["status"]) == ("training-status", run_id, "pending")
        async with sse_stream(client, live_server, f"/live/training/{run_id}") as one_run:
            # Another run's change, straight through NOTIFY: the list stream gets it, this run's stream must not.
            other = {"type": "training.run", "run_id": str(uuid.uuid4()), "site": "shop", "status": "running"}
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
                await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, json.dumps(other)))
            seen: list[SSE] = []
            while not (seen and seen[-1].data.get("type") == "training.run" and seen[-1].data["status"] == "succeeded"):
                seen.append(await one_run.next(timeout_s=30.0))
        statuses = [created.data["status"]]
        kinds = set()
        for event in seen:
            assert event.data["run_id"] == run_id, event
            assert event.event == {"training.events": "training-events"}.get(event.data["type"], "training-status")
            kinds.add(event.data["type"])
            if event.data["type"] == "training.run" and event.data["status"] != statuses[-1]:
                statuses.append(event.data["status"])
    assert kinds == {"training.run", "training.events", "training.evaluation", "training.deployment"}
    # The follower may look at the job too late to see every provider phase (they last 50 ms), never out of order.
    lifecycle = ["pending", "uploading", "validating_files", "queued", "running", "evaluating", "succeeded"]
    assert statuses == [status for status in lifecycle if status in statuses], statuses
    assert statuses[:3] == ["pending", "uploading", "validating_files"] and statuses[-2:] == ["evaluating", "succeeded"]


async def test_a_site_pages_stream_carries_only_that_sites_training(live_server: LiveServer, db_url: str) -> None:
    """`/live/training?site=shop` (a site's training page): another site's runs and deployments never make it
    re-fetch; the unfiltered stream (run lists) gets both."""
    grocer = {"type": "training.deployment", "run_id": str(uuid.uuid4()), "site": "grocer", "active": True}
    shop = {"type": "training.run", "run_id": str(uuid.uuid4()), "site": "shop", "status": "running"}
    async with (
        client_for_streams() as client,
        sse_stream(client, live_server, "/live/training?site=shop") as shop_page,
        sse_stream(client, live_server, "/live/training") as every_site,
    ):
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            for payload in (grocer, shop):
                await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, json.dumps(payload)))
        assert [(await every_site.next()).data["site"] for _ in range(2)] == ["grocer", "shop"]
        first = await shop_page.next()
    assert (first.event, first.data) == ("training-status", shop)
