"""Ingest, over a real WebSocket and real HTTP, of events Postgres would refuse.

Bad input gets a clear error and loses nothing that was valid. The real cases found (values that
pass JSON but not a column: a lone UTF-16 surrogate from the extension's `text.slice(0, n)` cutting an
emoji in half, an integer beyond int/bigint, a time past year 9999, NaN) are now caught or repaired by
the wire schema. No real event is left that passes validation and fails at insert, so the storage
isolation is tested against real Postgres refusals installed by the test at the database boundary:
CHECK constraints on this test's own database, as a future migration might add. An event refused
there is that event's error (`events[<i>]: could not be stored: ...`), the rest of the batch is stored
and acked, a resend changes nothing, no blob is left behind, and the session completes and goes
through the pipeline.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from sqlmodel import col, select

from lab.db.models import Event, Page, Screenshot, Session
from lab.pipeline import run_step
from lab.storage.archive import open_archive
from tests.conftest import LiveServer
from tests.integration.test_ingest_api import auth, click, now_ms, open_session, page
from tests.integration.test_ingest_stream_errors import screenshot, stored_seqs

REFUSED_TEXT = "refused by the database"
# What the constraints below make Postgres refuse (SQLSTATE 23514, check_violation).
REFUSING_CONSTRAINTS = (
    "ALTER TABLE screenshots ADD CONSTRAINT test_screenshot_width_at_most_4096 CHECK (width <= 4096)",
    "ALTER TABLE events ADD CONSTRAINT test_events_refused_text "
    f"CHECK (payload #>> '{{target,text}}' IS DISTINCT FROM '{REFUSED_TEXT}')",
)


@pytest.fixture
def refusing_database(db_url: str) -> str:
    """This test's database, with constraints that refuse some events that the wire schema accepts."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for statement in REFUSING_CONSTRAINTS:
            conn.execute(statement)
    return db_url


def refused_click(seq: int) -> dict[str, Any]:
    event = click(seq)
    event["target"]["text"] = REFUSED_TEXT
    return event


def ws_uri(server: LiveServer, sid: str) -> str:
    return f"{server.ws_url}/ws/v1/sessions/{sid}?token={server.participant_token}"


def refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "ingest.event_refused"]


async def test_an_event_the_database_refuses_is_its_own_error_and_the_rest_is_stored_over_the_websocket(
    refusing_database: str, live_server: LiveServer, archive_key: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    blobs = live_server.local_blobs
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
    wide = screenshot(2, for_seq=1)
    wide["width"] = 5000
    batch = {"v": 1, "events": [page(0), click(1), wide, screenshot(3, for_seq=1), click(4)]}
    async with websockets.connect(ws_uri(live_server, sid)) as ws:
        await ws.send(json.dumps(batch))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "ack", ack
        assert (ack["accepted"], ack["duplicates"], ack["ack_seq"]) == ([0, 1, 3, 4], [], 4)
        (error,) = ack["errors"]
        assert (error["index"], error["seq"], error["field"]) == (2, 2, "events[2]")
        assert error["message"].startswith("could not be stored: ")
        assert "test_screenshot_width_at_most_4096" in error["message"]
        assert "INSERT" not in error["message"], "no SQL goes back to the client"

        await ws.send(json.dumps(batch))  # what an extension that missed the ack does
        again = json.loads(await ws.recv())
        assert (again["accepted"], again["duplicates"], again["errors"]) == ([], [0, 1, 3, 4], ack["errors"])

    assert await stored_seqs(live_server, sid) == [0, 1, 3, 4]
    async with live_server.services.db.session() as s:
        shots = (await s.exec(select(Screenshot).where(col(Screenshot.session_id) == sid))).all()
    assert [shot.blob_key for shot in shots] == [f"sessions/{sid}/screenshots/3.webp"]
    files = sorted(p.relative_to(blobs.root).as_posix() for p in blobs.root.rglob("*") if p.is_file())
    assert files == [f"sessions/{sid}/screenshots/3.webp"], "no blob left for the refused screenshot"

    logged = refusals(caplog)
    assert len(logged) == 2, "once per batch that carried it"
    assert {k: logged[0][k] for k in ("session_id", "seq", "event_type", "error_class")} == {
        "session_id": sid,
        "seq": 2,
        "event_type": "screenshot",
        "error_class": "CheckViolationError",
    }

    async with httpx.AsyncClient() as client:
        done = await client.post(
            f"{live_server.url}/api/v1/sessions/{sid}/complete", headers=auth(live_server.participant_token)
        )
    assert done.status_code == 202 and done.json()["status"] == "processing", done.text
    jobs = await live_server.services.queue.job_manager.list_jobs_async(queue="pipeline")
    assert [j.task_name for j in jobs] == ["pipeline.replay"]
    # Replay needs a browser (tests/e2e); the steps after it run here as the worker runs them.
    for step in ("quality", "training", "archive"):
        await run_step(live_server.services.db, blobs, uuid.UUID(sid), step)
    async with live_server.services.db.session() as s:
        session = await s.get(Session, uuid.UUID(sid))
    assert session is not None and session.status == "done" and session.archive_key is not None
    archive = open_archive(await blobs.get(session.archive_key), archive_key)
    assert [e["seq"] for e in archive.session["events"]] == [0, 1, 3, 4]
    assert sorted(archive.screenshots) == ["3.webp"]


async def test_an_event_the_database_refuses_is_its_own_error_and_the_rest_is_stored_over_rest(
    refusing_database: str, live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        url, headers = f"{live_server.url}/api/v1/sessions/{sid}/events", auth(live_server.participant_token)
        batch = {"v": 1, "events": [page(0), refused_click(1), click(2, candidates=[]), click(3)]}
        first = await client.post(url, json=batch, headers=headers)
        assert first.status_code == 207, first.text
        ack = first.json()
        assert (ack["accepted"], ack["ack_seq"]) == ([0, 3], 3)
        assert [(e["index"], e["seq"], e["field"]) for e in ack["errors"]] == [
            (1, 1, "events[1]"),
            (2, 2, "events[2].selectors.candidates"),
        ]
        assert ack["errors"][0]["message"].startswith("could not be stored: ")
        assert "test_events_refused_text" in ack["errors"][0]["message"]

        again = await client.post(url, json=batch, headers=headers)
        assert again.status_code == 207, again.text
        assert (again.json()["accepted"], again.json()["duplicates"]) == ([], [0, 3])
        assert again.json()["errors"] == ack["errors"]

        only_refused = await client.post(url, json={"v": 1, "events": [refused_click(4)]}, headers=headers)
        assert only_refused.status_code == 422, only_refused.text
        assert only_refused.json()["errors"][0]["field"] == "events[0]"
        assert only_refused.json()["ack_seq"] is None

        done = await client.post(f"{live_server.url}/api/v1/sessions/{sid}/complete", headers=headers)
        assert done.status_code == 202, done.text
    assert await stored_seqs(live_server, sid) == [0, 3]
    async with live_server.services.db.session() as s:
        events = (await s.exec(select(Event).where(col(Event.session_id) == sid).order_by(col(Event.seq)))).all()
        assert len((await s.exec(select(Page).where(col(Page.session_id) == sid))).all()) == 1
    assert events[1].page_id is not None, "the stored click still points at its page"
    assert [(r["seq"], r["event_type"], r["error_class"]) for r in refusals(caplog)] == [
        (1, "click", "CheckViolationError"),
        (1, "click", "CheckViolationError"),
        (4, "click", "CheckViolationError"),
    ]


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


async def test_values_no_column_can_hold_are_refused_at_validation_naming_the_field(live_server: LiveServer) -> None:
    """Before the wire schema bounded them, each of these failed the insert (or, nested 900 deep, the
    server's own recursion), and with it the whole batch on every resend."""
    wide, late, nan_score, deep, deep_enough = screenshot(2, for_seq=1), click(3), click(4), click(6), click(7)
    wide["width"] = 2**31
    late["t"] = 253_402_300_800_000  # year 10000
    nan_score["selectors"]["candidates"][0]["score"] = float("nan")  # Python's JSON writes NaN
    deep["selectors"]["fingerprint"] = {"ancestors": nested(900)}
    deep_enough["selectors"]["fingerprint"] = {"ancestors": nested(61)}  # the deepest the wire takes
    events = [page(0), click(1), wide, late, nan_score, click(5), deep, deep_enough]
    body = json.dumps({"v": 1, "events": events})
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        r = await client.post(
            f"{live_server.url}/api/v1/sessions/{sid}/events",
            content=body,
            headers={**auth(live_server.participant_token), "content-type": "application/json"},
        )
    assert r.status_code == 207, r.text
    assert r.json()["accepted"] == [0, 1, 5, 7]
    assert [(e["seq"], e["field"]) for e in r.json()["errors"]] == [
        (2, "events[2].width"),
        (3, "events[3].t"),
        (4, "events[4].selectors.candidates[0].score"),
        (6, "events[6]"),
    ]
    async with websockets.connect(ws_uri(live_server, sid)) as ws:
        await ws.send(body)
        ack = json.loads(await ws.recv())
    assert (ack["accepted"], ack["duplicates"]) == ([], [0, 1, 5, 7])
    assert [e["field"] for e in ack["errors"]] == [e["field"] for e in r.json()["errors"]]


async def test_half_an_emoji_is_stored_with_a_replacement_character_over_rest_and_the_websocket(
    live_server: LiveServer,
) -> None:
    """The extension's `title.slice(0, 500)` can end on the first half of an emoji, which JSON.stringify
    writes as a lone "\\ud83d": jsonb refused it (the WebSocket failed the batch on every resend) and the
    REST reader refused the whole body (a 400 on every resend)."""
    cut = now_ms()

    def titled(seq: int) -> str:
        # json.dumps writes the lone surrogate as the escape the browser sends.
        event = {**page(seq), "t": cut, "title": "Caf\u2615 \ud83d"}
        return json.dumps({"v": 1, "events": [event, click(seq + 1)]})

    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        r = await client.post(
            f"{live_server.url}/api/v1/sessions/{sid}/events",
            content=titled(0),
            headers={**auth(live_server.participant_token), "content-type": "application/json"},
        )
    assert r.status_code == 200 and r.json()["accepted"] == [0, 1], r.text
    async with websockets.connect(ws_uri(live_server, sid)) as ws:
        await ws.send(titled(2))
        ack = json.loads(await ws.recv())
    assert ack["type"] == "ack" and ack["accepted"] == [2, 3], ack
    async with live_server.services.db.session() as s:
        pages = (await s.exec(select(Page).where(col(Page.session_id) == sid).order_by(col(Page.seq)))).all()
        events = (await s.exec(select(Event).where(col(Event.session_id) == sid, col(Event.type) == "page"))).all()
    assert [p.title for p in pages] == ["Caf\u2615 \ufffd"] * 2
    assert [e.payload["title"] for e in events] == ["Caf\u2615 \ufffd"] * 2
