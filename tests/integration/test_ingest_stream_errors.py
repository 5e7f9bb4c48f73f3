"""The ingest WebSocket when a valid batch fails on our side (the blob store's disk is gone):
the failure is logged with the session and the batch's seqs and answered with an error frame
that extension/recorder.js resends after a backoff; what was acked before stays stored,
nothing of the failed batch is half-kept, and the same connection stores it once the store
is back. A NUL in text, which Postgres cannot hold, is not such a failure: it is replaced."""

from __future__ import annotations

import json
import shutil
from typing import Any

import httpx
import pytest
import websockets
from sqlmodel import col, select

from lab.db.models import Event, Screenshot
from lab.storage.blobs import LocalBlobStore
from tests.conftest import LiveServer
from tests.integration.test_ingest_api import click, now_ms, open_session, page, webp_data_url
from web.api.stream import SERVER_ERROR_MESSAGE


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
    blobs = live_server.services.blobs
    assert isinstance(blobs, LocalBlobStore)
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
