"""Ingest over real HTTP and a real WebSocket into a real Postgres."""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any

import httpx
import pytest
import websockets
from PIL import Image
from sqlmodel import select

from lab.db.models import Event, Page, Screenshot, SelectorCandidate
from tests.conftest import LiveServer


def now_ms() -> int:
    return int(time.time() * 1000)


def webp_data_url(width: int = 64, height: int = 48) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 200)).save(buf, format="WEBP")
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode()


def click(seq: int, *, candidates: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": "click",
        "t": now_ms(),
        "url": "http://shop.test/v1/index.html",
        "target": {"tag": "button", "text": "Add to cart"},
        "selectors": {
            "candidates": candidates
            if candidates is not None
            else [
                {"kind": "testid", "selector": "testid=add", "score": 1},
                {"kind": "role", "selector": 'role=button[name="Add to cart"]', "score": 2},
                {"kind": "text", "selector": 'text="Add to cart"', "score": 3},
                {"kind": "xpath", "selector": "xpath=/html/body/button", "score": 10},
            ]
        },
    }


def page(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": "page",
        "t": now_ms(),
        "url": "http://shop.test/v1/index.html",
        "title": "Shop",
        "structure": {"headings": ["Products"], "counts": {"buttons": 3}},
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def open_session(client: httpx.AsyncClient, server: LiveServer) -> str:
    r = await client.post(
        f"{server.url}/api/v1/sessions",
        json={"v": 1, "mode": "automated", "site": "shop", "site_version": "v1"},
        headers=auth(server.participant_token),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["ws_url"] == f"/ws/v1/sessions/{body['id']}"
    return str(body["id"])


async def test_opening_a_session_needs_a_participant_token(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{live_server.url}/api/v1/sessions", json={"site": "shop"})
        assert r.status_code == 401
        assert "participant token" in r.json()["detail"]
        r = await client.post(
            f"{live_server.url}/api/v1/sessions", json={"site": "shop"}, headers=auth(live_server.user_token)
        )
        assert r.status_code == 401


async def test_rejected_event_keeps_valid_events_of_the_batch(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        batch = {"v": 1, "events": [page(0), click(1, candidates=[]), click(2)]}
        r = await client.post(
            f"{live_server.url}/api/v1/sessions/{sid}/events", json=batch, headers=auth(live_server.participant_token)
        )
        assert r.status_code == 207, r.text
        ack = r.json()
        assert ack["accepted"] == [0, 2]
        assert ack["ack_seq"] == 2
        assert [(e["seq"], e["field"]) for e in ack["errors"]] == [(1, "events[1].selectors.candidates")]
    async with live_server.services.db.session() as s:
        events = (await s.exec(select(Event).order_by(Event.seq))).all()  # type: ignore[arg-type]
        assert [e.seq for e in events] == [0, 2]
        assert events[1].page_id is not None, "a click is linked to the page it happened on"
        candidates = (await s.exec(select(SelectorCandidate))).all()
        assert sorted({c.kind for c in candidates}) == ["role", "testid", "text", "xpath"]
        assert len((await s.exec(select(Page))).all()) == 1


async def test_malformed_envelope_is_a_400_naming_the_field(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        url = f"{live_server.url}/api/v1/sessions/{sid}/events"
        r = await client.post(url, json={"v": 1, "events": "nope"}, headers=auth(live_server.participant_token))
        assert r.status_code == 400
        assert r.json()["detail"].startswith("events:")
        r = await client.post(url, json={"v": 9, "events": []}, headers=auth(live_server.participant_token))
        assert r.status_code == 400
        assert r.json()["detail"].startswith("v:")


async def test_resent_event_is_a_no_op(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        url = f"{live_server.url}/api/v1/sessions/{sid}/events"
        first = (
            await client.post(
                url, json={"v": 1, "events": [page(0), click(1)]}, headers=auth(live_server.participant_token)
            )
        ).json()
        again = (
            await client.post(
                url, json={"v": 1, "events": [click(1), click(2)]}, headers=auth(live_server.participant_token)
            )
        ).json()
    assert first["accepted"] == [0, 1]
    assert again["accepted"] == [2]
    assert again["duplicates"] == [1]
    async with live_server.services.db.session() as s:
        assert len((await s.exec(select(Event))).all()) == 3
        assert len((await s.exec(select(SelectorCandidate))).all()) == 8


async def test_websocket_acks_each_batch_with_its_highest_seq(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
    uri = f"{live_server.ws_url}/ws/v1/sessions/{sid}?token={live_server.participant_token}"
    async with websockets.connect(uri) as ws:
        await ws.send(json.dumps({"v": 1, "events": [page(0), click(1)]}))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "ack" and ack["ack_seq"] == 1 and ack["accepted"] == [0, 1]
        await ws.send("{not json")
        error = json.loads(await ws.recv())
        assert error == {"type": "error", "field": "body", "message": error["message"]}
        shot = {
            "seq": 2,
            "type": "screenshot",
            "t": now_ms(),
            "url": "http://shop.test/",
            "reason": "click",
            "for_seq": 1,
            "image": webp_data_url(),
            "width": 64,
            "height": 48,
        }
        bad = {"seq": 3, "type": "click", "t": now_ms(), "url": "x"}
        await ws.send(json.dumps({"v": 1, "events": [shot, bad]}))
        ack = json.loads(await ws.recv())
        assert ack["accepted"] == [2]
        assert ack["errors"][0]["field"] == "events[1].target"
    async with live_server.services.db.session() as s:
        (screenshot,) = (await s.exec(select(Screenshot))).all()
    data = await live_server.services.blobs.get(screenshot.blob_key)
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert screenshot.for_seq == 1 and screenshot.size_bytes == len(data)


async def test_websocket_refuses_a_missing_token(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
    with pytest.raises(websockets.exceptions.WebSocketException):
        async with websockets.connect(f"{live_server.ws_url}/ws/v1/sessions/{sid}") as ws:
            await ws.recv()


async def test_a_png_posing_as_webp_is_refused(live_server: LiveServer) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    fake = "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode()
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        shot = {
            "seq": 0,
            "type": "screenshot",
            "t": now_ms(),
            "url": "http://shop.test/",
            "reason": "manual",
            "image": fake,
            "width": 8,
            "height": 8,
        }
        r = await client.post(
            f"{live_server.url}/api/v1/sessions/{sid}/events",
            json={"v": 1, "events": [shot]},
            headers=auth(live_server.participant_token),
        )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "events[0].image"


async def test_complete_enqueues_the_pipeline_and_reads_need_a_user(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        base = f"{live_server.url}/api/v1/sessions/{sid}"
        await client.post(
            f"{base}/events", json={"v": 1, "events": [page(0), click(1)]}, headers=auth(live_server.participant_token)
        )
        r = await client.post(f"{base}/complete", headers=auth(live_server.participant_token))
        assert r.status_code == 202 and r.json()["status"] == "processing"
        r = await client.post(
            f"{base}/events", json={"v": 1, "events": [click(5)]}, headers=auth(live_server.participant_token)
        )
        assert r.status_code == 409, "a completed session takes no more events"
        assert (await client.get(base, headers=auth(live_server.participant_token))).status_code == 401
        r = await client.get(base, headers=auth(live_server.user_token))
        assert r.status_code == 200
        body = r.json()
    assert body["id"] == sid and body["mode"] == "automated" and body["site"] == "shop"
    assert body["status"] == "processing"
    assert body["steps"] == {"replay": "pending", "quality": "pending", "training": "pending", "archive": "pending"}
    assert "quality_score" in body
    async with live_server.services.db.session() as s:
        jobs = (await s.exec(select(Event.seq))).all()  # the events survive completion
        assert sorted(jobs) == [0, 1]
    job_rows = await live_server.services.queue.job_manager.list_jobs_async(queue="pipeline")
    assert [j.task_name for j in job_rows] == ["pipeline.replay"]


async def test_dashboard_sends_strangers_to_sign_in_and_lets_users_in(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{live_server.url}/sessions")
        assert r.status_code in (302, 303, 307) and r.headers["location"] == "/login"
        r = await client.post(f"{live_server.url}/login", data={"token": "csu_wrong"})
        assert r.status_code == 401
        r = await client.post(f"{live_server.url}/login", data={"token": live_server.user_token})
        assert r.status_code in (302, 303)
        assert "codesight_token" in client.cookies, "signing in sets the session cookie"
        r = await client.get(f"{live_server.url}/sessions")
        assert r.status_code == 200
        assert 'hx-get="/sessions/rows"' in r.text
        assert (await client.get(f"{live_server.url}/static/vendor/htmx.min.js")).status_code == 200


async def test_reviewers_decide_and_a_rejection_needs_a_reason(live_server: LiveServer) -> None:
    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        url = f"{live_server.url}/api/v1/sessions/{sid}/review"
        user = auth(live_server.user_token)
        r = await client.post(url, json={"decision": "rejected", "reason": " "}, headers=user)
        assert r.status_code == 400 and r.json()["detail"].startswith("reason:")
        r = await client.post(url, json={"decision": "maybe"}, headers=user)
        assert r.status_code == 400 and r.json()["detail"].startswith("decision:")
        r = await client.post(url, json={"decision": "accepted"}, headers=auth(live_server.participant_token))
        assert r.status_code == 401, "participants cannot review"
        r = await client.post(url, json={"decision": "rejected", "reason": "blank screenshots"}, headers=user)
        assert r.status_code == 200 and r.json()["review_status"] == "rejected"
        body = (await client.get(f"{live_server.url}/api/v1/sessions/{sid}", headers=user)).json()
        assert body["review_status"] == "rejected" and body["review_reason"] == "blank screenshots"
        client.cookies.set("codesight_token", live_server.user_token)
        r = await client.post(f"{live_server.url}/sessions/{sid}/review", data={"decision": "accepted", "reason": ""})
        assert r.status_code == 200 and "accepted" in r.text
