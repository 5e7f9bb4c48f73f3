"""`/metrics` over real HTTP: ingest (REST and WebSocket) and pipeline steps move exactly the expected series.

The registry is process-global (every test in this process records into it), so each test reads the
scrape before and after and compares the differences, all of them for its metric family prefix: a
series that moves when it should not fails the test as surely as one that does not move.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import psycopg
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from lab.capture.media import decode_webp
from lab.pipeline import run_step
from tests.conftest import LiveServer
from tests.integration.test_ingest_api import auth, click, open_session, page
from tests.integration.test_ingest_stream_errors import screenshot
from tests.integration.test_pipeline import recorded_session
from workers.tasks import TASK_NAMES

Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]
REFUSED_TEXT = "refused by the database"


async def scrape(server: LiveServer) -> Scrape:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{server.url}/metrics")
    assert r.status_code == 200, r.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def value(scraped: Scrape, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def moved(before: Scrape, after: Scrape, prefix: str) -> dict[str, float]:
    """Every series under `prefix` that changed, as `name{label=value,...}`; bucket, sum and created
    samples are left out (their values depend on timing)."""
    changes = {}
    for key in before.keys() | after.keys():
        name, labels = key
        if not name.startswith(prefix) or name.endswith(("_bucket", "_sum", "_created")):
            continue
        delta = after.get(key, 0.0) - before.get(key, 0.0)
        if delta:
            changes[name + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels)) + "}"] = delta
    return changes


async def post(client: httpx.AsyncClient, server: LiveServer, sid: str, body: object) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    return await client.post(
        f"{server.url}/api/v1/sessions/{sid}/events", content=content, headers=auth(server.participant_token)
    )


async def wait_for_websockets_open(server: LiveServer, expected: float) -> Scrape:
    """The scrape once the server has seen the socket close (it learns of it on its next receive)."""
    for _ in range(50):
        scraped = await scrape(server)
        if value(scraped, "codesight_ingest_websockets_open") == expected:
            return scraped
        await asyncio.sleep(0.05)
    raise AssertionError(f"codesight_ingest_websockets_open never went back to {expected}")


async def test_ingest_over_rest_and_websocket_moves_event_and_batch_counters_exactly(
    live_server: LiveServer, db_url: str
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:  # a refusal only Postgres makes, as a migration might add
        conn.execute(
            "ALTER TABLE events ADD CONSTRAINT test_refused_text "
            f"CHECK (payload #>> '{{target,text}}' IS DISTINCT FROM '{REFUSED_TEXT}')"
        )
    refused = click(6)
    refused["target"]["text"] = REFUSED_TEXT
    shot = screenshot(2, for_seq=1)
    before = await scrape(live_server)

    async with httpx.AsyncClient() as client:
        sid = await open_session(client, live_server)
        first = {"v": 1, "events": [page(0), click(1), shot]}
        assert (await post(client, live_server, sid, first)).status_code == 200
        assert (await post(client, live_server, sid, first)).json()["duplicates"] == [0, 1, 2]
        mixed = {"v": 1, "events": [click(3, candidates=[]), click(4), {"type": "bogus", "seq": 5, "t": 1}]}
        assert (await post(client, live_server, sid, mixed)).status_code == 207
        assert (await post(client, live_server, sid, {"v": 1, "events": [refused]})).status_code == 422
        assert (await post(client, live_server, sid, "{not json")).status_code == 400
        assert (await post(client, live_server, sid, {"v": 1, "events": "nope"})).status_code == 400
        done = await client.post(
            f"{live_server.url}/api/v1/sessions/{sid}/complete", headers=auth(live_server.participant_token)
        )
        assert done.status_code == 202
        assert (await post(client, live_server, sid, {"v": 1, "events": [click(7)]})).status_code == 409
        ws_sid = await open_session(client, live_server)

    uri = f"{live_server.ws_url}/ws/v1/sessions/{ws_sid}?token={live_server.participant_token}"
    async with websockets.connect(uri) as ws:
        batch = json.dumps({"v": 1, "events": [page(0), click(1)]})
        for _ in range(2):  # the second time as an extension that missed the ack resends it
            await ws.send(batch)
            assert json.loads(await ws.recv())["type"] == "ack"
        during = await scrape(live_server)
        await ws.send(json.dumps({"v": 1, "events": [click(2, candidates=[])]}))
        assert json.loads(await ws.recv())["accepted"] == []
        await ws.send("{not json")
        assert json.loads(await ws.recv())["type"] == "error"
    after = await wait_for_websockets_open(live_server, value(before, "codesight_ingest_websockets_open"))

    assert value(during, "codesight_ingest_websockets_open") - value(before, "codesight_ingest_websockets_open") == 1
    assert moved(before, after, "codesight_ingest_") == {
        "codesight_ingest_events_total{outcome=stored,type=page}": 2,
        "codesight_ingest_events_total{outcome=stored,type=click}": 3,
        "codesight_ingest_events_total{outcome=stored,type=screenshot}": 1,
        "codesight_ingest_events_total{outcome=duplicate,type=page}": 2,
        "codesight_ingest_events_total{outcome=duplicate,type=click}": 2,
        "codesight_ingest_events_total{outcome=duplicate,type=screenshot}": 1,
        "codesight_ingest_events_total{outcome=invalid,type=click}": 2,
        "codesight_ingest_events_total{outcome=invalid,type=unknown}": 1,
        "codesight_ingest_events_total{outcome=refused,type=click}": 1,
        "codesight_ingest_batches_total{outcome=stored,transport=rest}": 2,
        "codesight_ingest_batches_total{outcome=partial,transport=rest}": 1,
        "codesight_ingest_batches_total{outcome=rejected,transport=rest}": 1,
        "codesight_ingest_batches_total{outcome=malformed,transport=rest}": 2,
        "codesight_ingest_batches_total{outcome=closed,transport=rest}": 1,
        "codesight_ingest_batches_total{outcome=stored,transport=ws}": 2,
        "codesight_ingest_batches_total{outcome=rejected,transport=ws}": 1,
        "codesight_ingest_batches_total{outcome=malformed,transport=ws}": 1,
        # Timed: every batch that reached the store (a body that is not JSON does not).
        "codesight_ingest_batch_store_seconds_count{transport=rest}": 6,
        "codesight_ingest_batch_store_seconds_count{transport=ws}": 3,
        "codesight_ingest_screenshot_bytes_total{}": len(decode_webp(shot["image"])),
    }


async def test_pipeline_steps_and_queue_depth_show_on_the_web_metrics(
    live_server: LiveServer, archive_key: bytes
) -> None:
    """`codesight up` runs the worker in the web process: its steps show on the same /metrics."""
    db, blobs = live_server.services.db, live_server.local_blobs
    session_id = await recorded_session(db, blobs)
    before = await scrape(live_server)
    assert value(before, "codesight_queue_depth", queue="pipeline") == 0
    assert value(before, "codesight_queue_depth", queue="training") == 0
    assert ("codesight_queue_depth", frozenset({("queue", "training")})) in before, "known queues show as 0"

    shot_key = f"sessions/{session_id}/screenshots/3.webp"
    saved = await blobs.get(shot_key)
    await blobs.delete(shot_key)
    with pytest.raises(FileNotFoundError):
        await run_step(db, blobs, session_id, "quality")
    await blobs.put(shot_key, saved)
    for step in ("quality", "training", "archive"):
        await run_step(db, blobs, session_id, step)
    await live_server.services.queue.configure_task(TASK_NAMES["replay"]).defer_async(session_id=str(uuid.uuid4()))
    after = await scrape(live_server)

    assert moved(before, after, "codesight_pipeline_") == {
        "codesight_pipeline_steps_total{outcome=failed,step=quality}": 1,
        "codesight_pipeline_steps_total{outcome=done,step=quality}": 1,
        "codesight_pipeline_steps_total{outcome=done,step=training}": 1,
        "codesight_pipeline_steps_total{outcome=done,step=archive}": 1,
        "codesight_pipeline_step_seconds_count{step=quality}": 2,
        "codesight_pipeline_step_seconds_count{step=training}": 1,
        "codesight_pipeline_step_seconds_count{step=archive}": 1,
        "codesight_pipeline_step_retries_total{step=quality}": 1,
        "codesight_pipeline_sessions_total{status=done}": 1,
    }
    assert value(after, "codesight_queue_depth", queue="pipeline") == 1
    assert value(after, "codesight_queue_depth", queue="training") == 0
