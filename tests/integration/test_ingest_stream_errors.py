"""Ingest, over the WebSocket and REST, when a valid batch fails on our side (the blob store's disk
is gone): the failure is logged with the session and the batch's seqs and answered with an error
frame (a 503 naming the server over REST) that extension/recorder.js resends after a backoff; what
was acked before stays stored, nothing of the failed batch is half-kept, and the same batch is
stored once the store is back. A NUL in text, which Postgres cannot hold, is not such a failure:
it is replaced, in events and in the fields that open a session."""

from __future__ import annotations

import json
import shutil
import uuid
from typing import Any

import httpx
import pytest
import websockets
from sqlmodel import col, select

from lab.db.models import Event, Screenshot, Session
from tests.conftest import LiveServer
from tests.integration.test_ingest_api import auth, click, now_ms, open_session, page, webp_data_url
from web.api.sessions import SERVER_ERROR_MESSAGE


def screenshot(seq: int, for_seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": "screenshot",
        "t": now_ms(),
        "url": "http://shop.test/v1/index.html",
        "reason": "click",
        "for_seq": for_seq,
        "image": webp_data_url(),
        "width": 64,
        "height": 48,
    }


async def stored_seqs(server: LiveServer, session_id: str) -> list[int]:
    async with server.services.db.session() as s:
        rows = await s.exec(select(Event.seq).where(col(Event.session_id) == session_id).order_by(col(Event.seq)))
        return list(rows.all())


async def test_a_batch_that_fails_in_storage_gets_an_error_frame_and_keeps_what_was_acked(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    blobs = live_server.local_blobs
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
    uri = f"{live_server.ws_url}/ws/v1/sessions/{sid}?token={live_server.participant_token}"
    failing = {"v": 1, "events": [click(2), screenshot(3, for_seq=2)]}
    async with websockets.connect(uri) as ws:
        await ws.send(json.dumps({"v": 1, "events": [page(0), click(1)]}))
        assert json.loads(await ws.recv())["ack_seq"] == 1
        # The blob store's folder turns into a plain file: writing the screenshot fails with an OSError.
        shutil.rmtree(blobs.root, ignore_errors=True)
        blobs.root.write_bytes(b"")
        await ws.send(json.dumps(failing))
        assert json.loads(await ws.recv()) == {"type": "error", "field": "server", "message": SERVER_ERROR_MESSAGE}
        assert await stored_seqs(live_server, sid) == [0, 1], "acked events kept, the failed batch not half-stored"
        blobs.root.unlink()
        await ws.send(json.dumps(failing))  # what the extension does after its backoff
        ack = json.loads(await ws.recv())
        assert ack["type"] == "ack" and ack["accepted"] == [2, 3] and ack["duplicates"] == []
    assert await stored_seqs(live_server, sid) == [0, 1, 2, 3]
    async with live_server.services.db.session() as s:
        (shot,) = (await s.exec(select(Screenshot).where(col(Screenshot.session_id) == sid))).all()
    assert (await blobs.get(shot.blob_key))[8:12] == b"WEBP"
    failures = [r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "ws.batch_failed"]
    assert len(failures) == 1
    logged = failures[0].msg
    assert isinstance(logged, dict)
    assert (logged["session_id"], logged["seq_first"], logged["seq_last"], logged["events"]) == (sid, 2, 3, 2)
    assert logged["exc_info"] is True and failures[0].levelname == "ERROR"


async def test_text_postgres_cannot_hold_is_stored_with_a_replacement_character(live_server: LiveServer) -> None:
    """A NUL in a page's text passes validation but Postgres refuses it: left in, the batch would
    fail on every resend and hold up the rest of the session behind it."""
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
    titled, clicked = page(0), click(1)
    titled["title"] = "Shop\x00"
    clicked["target"]["text"] = "Add\x00to cart"
    uri = f"{live_server.ws_url}/ws/v1/sessions/{sid}?token={live_server.participant_token}"
    async with websockets.connect(uri) as ws:
        await ws.send(json.dumps({"v": 1, "events": [titled, clicked]}))
        ack = json.loads(await ws.recv())
    assert ack["type"] == "ack" and ack["accepted"] == [0, 1], ack
    async with live_server.services.db.session() as s:
        events = (await s.exec(select(Event).where(col(Event.session_id) == sid).order_by(col(Event.seq)))).all()
    assert [e.payload["title"] if e.type == "page" else e.payload["target"]["text"] for e in events] == [
        "Shop\ufffd",
        "Add\ufffdto cart",
    ]


async def test_a_rest_batch_that_fails_in_storage_is_a_503_naming_the_server_and_is_logged(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    blobs = live_server.local_blobs
    failing = {"v": 1, "events": [click(2), screenshot(3, for_seq=2)]}
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        url, headers = f"{live_server.url}/api/v1/sessions/{sid}/events", auth(live_server.participant_token)
        first = await client.post(url, json={"v": 1, "events": [page(0), click(1)]}, headers=headers)
        assert first.status_code == 200 and first.json()["ack_seq"] == 1
        shutil.rmtree(blobs.root, ignore_errors=True)
        blobs.root.write_bytes(b"")
        failed = await client.post(url, json=failing, headers=headers)
        assert failed.status_code == 503, failed.text
        assert failed.headers["content-type"].startswith("application/json")
        assert failed.json() == {"status_code": 503, "detail": SERVER_ERROR_MESSAGE, "extra": {"field": "server"}}
        assert await stored_seqs(live_server, sid) == [0, 1], "acked events kept, the failed batch not half-stored"
        blobs.root.unlink()
        again = await client.post(url, json=failing, headers=headers)  # what the extension does after its backoff
        assert again.status_code == 200 and again.json()["accepted"] == [2, 3], again.text
    assert await stored_seqs(live_server, sid) == [0, 1, 2, 3]
    failures = [r for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "api.batch_failed"]
    assert len(failures) == 1
    logged = failures[0].msg
    assert isinstance(logged, dict)
    assert (logged["session_id"], logged["seq_first"], logged["seq_last"], logged["events"]) == (sid, 2, 3, 2)
    assert logged["exc_info"] is True and failures[0].levelname == "ERROR"


async def test_a_nul_in_the_fields_that_open_a_session_is_replaced(live_server: LiveServer) -> None:
    """The extension sends the tab's URL and user agent as they are; a NUL there must not make the session
    unrecordable (a 500 on every try), and nothing else of the field is lost."""
    body = {
        "v": 1,
        "mode": "human",
        "site": "sh\x00op",
        "site_version": "v\x001",
        "start_url": "http://shop.test/v1/?q=a\x00b",
        "user_agent": "Mozilla/5.0\x00 (X11)",
    }
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{live_server.url}/api/v1/sessions", json=body, headers=auth(live_server.participant_token)
        )
    assert r.status_code == 201, r.text
    async with live_server.services.db.session() as s:
        session = await s.get(Session, uuid.UUID(r.json()["id"]))
    assert session is not None
    assert (session.site, session.site_version, session.start_url, session.user_agent) == (
        "sh\ufffdop",
        "v\ufffd1",
        "http://shop.test/v1/?q=a\ufffdb",
        "Mozilla/5.0\ufffd (X11)",
    )
