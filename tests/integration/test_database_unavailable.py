"""The web app when Postgres does not answer: /healthz stays up, /readyz says 503, and a request that
needs the database gets a 503 with Retry-After (the client was right; it may send again), never a bare
500 — for the extension's API calls and for a person's browser alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from procrastinate import App

from lab.config import get_settings
from lab.db import Database
from lab.db.engine import database_unavailable
from lab.storage.blobs import LocalBlobStore
from tests.conftest import _free_port
from web.app import RETRY_AFTER_S, create_app
from web.server import make_server
from web.services import Services


@pytest.fixture
async def server_without_database(pipeline_app: App, tmp_path: Path) -> AsyncIterator[str]:
    """The real app whose database URL points at a port nobody listens on (Postgres down)."""
    nowhere = Database(f"postgresql://codesight@127.0.0.1:{_free_port()}/{uuid.uuid4().hex}")
    services = Services(
        settings=get_settings(), db=nowhere, blobs=LocalBlobStore(tmp_path / "blobs"), queue=pipeline_app
    )
    port = _free_port()
    server = make_server(create_app(services), "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    await server.wait_started(task)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await nowhere.dispose()


async def test_requests_that_need_the_database_get_a_503_to_retry(server_without_database: str) -> None:
    async with httpx.AsyncClient(base_url=server_without_database, timeout=30) as client:
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")
        opened = await client.post("/api/v1/sessions", json={"site": "shop"}, headers={"Authorization": "Bearer csp_x"})
        page = await client.get("/sessions", headers={"Accept": "text/html", "Cookie": "codesight_token=csu_x"})
    assert alive.status_code == 200
    assert ready.status_code == 503 and ready.json() == {"status": "unavailable", "database": "not answering"}
    assert opened.status_code == 503 and opened.headers["retry-after"] == str(RETRY_AFTER_S)
    assert opened.json()["detail"].startswith("the database is not answering") and opened.json()["extra"] == {
        "field": "server"
    }
    assert page.status_code == 503 and "Temporarily unavailable" in page.text and "Nothing was lost" in page.text


async def test_readyz_is_ok_when_the_database_answers(live_server: object) -> None:
    from tests.conftest import LiveServer

    assert isinstance(live_server, LiveServer)
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "database": "ok"}


def test_only_connection_failures_count_as_unavailable() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as refused:
            raise RuntimeError("could not open a session") from refused
    except RuntimeError as wrapped:
        assert database_unavailable(wrapped)
    assert not database_unavailable(ValueError("site: must not be empty"))
    assert not database_unavailable(FileNotFoundError("sessions/x/1.webp"))
