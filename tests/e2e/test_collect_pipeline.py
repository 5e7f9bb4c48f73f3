"""The walking skeleton end to end: the real extension in real Chromium walks the shop,
the server ingests over WebSocket, a real procrastinate worker runs every step, and the
session ends as validated JSONL plus one encrypted archive, visible in the dashboard."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from sqlmodel import col, func, select

from lab.collect import collect_session
from lab.config import PROJECT_ROOT, get_settings
from lab.db.models import Event, ReplayResult, ReplayVerdict, Screenshot, SelectorCandidate
from lab.storage.archive import open_archive
from lab.storage.keys import load_or_create_archive_key
from lab.training.validate import validate_jsonl_text
from tests.conftest import LiveServer
from workers.context import get_resources

SHOP = PROJECT_ROOT / "fixtures" / "sites" / "shop"
DONE_TIMEOUT_S = 240


def user_auth(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.user_token}"}


async def wait_until_done(client: httpx.AsyncClient, server: LiveServer, session_id: str) -> dict[str, object]:
    deadline = time.monotonic() + DONE_TIMEOUT_S
    while True:
        r = await client.get(
            f"{server.url}/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {server.user_token}"}
        )
        body: dict[str, object] = r.json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.5)


async def test_collected_shop_session_goes_through_every_step_to_validated_jsonl(
    live_server: LiveServer, pipeline_worker: None
) -> None:
    settings = get_settings()
    session_id = await collect_session(
        SHOP,
        server=live_server.url,
        token=live_server.participant_token,
        version="v1",
        chromium=settings.chromium_path,
        extension_dir=settings.extension_dir,
    )
    collected_at = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        body = await wait_until_done(client, live_server, session_id)
        seconds_to_done = time.monotonic() - collected_at
        print(f"collect → done: {seconds_to_done:.1f} s")
        assert body["status"] == "done", json.dumps(body, indent=1)
        assert body["mode"] == "automated" and body["site"] == "shop"
        assert body["steps"] == {"replay": "done", "quality": "done", "training": "done", "archive": "done"}
        assert get_resources().browser.launches == 1, "the worker's shared browser, launched by the replay job"
        assert isinstance(body["quality_score"], float) and 0 <= body["quality_score"] <= 100

        headers = {"Authorization": f"Bearer {live_server.user_token}"}
        jsonl = (
            await client.get(f"{live_server.url}/api/v1/sessions/{session_id}/training.jsonl", headers=headers)
        ).text
        report = validate_jsonl_text(jsonl)
        assert report.example_count >= 5, "one example per click of the journey"
        assert not report.error_counts, report.error_counts
        first = json.loads(jsonl.splitlines()[0])
        user_parts = first["messages"][1]["content"]
        assert any(
            p.get("type") == "image_url" and p["image_url"]["url"].startswith("data:image/webp;base64,")
            for p in user_parts
        )

        client.cookies.set("codesight_token", live_server.user_token)
        page = await client.get(f"{live_server.url}/sessions/{session_id}")
        assert page.status_code == 200
        assert page.text.count('class="click"') >= 5
        assert "/screenshots/" in page.text and "mobile/fresh" in page.text
        assert 'data-pick="' in page.text, "replay's pick per condition under each click's grid"

    async with live_server.services.db.session() as s:
        clicks = (await s.exec(select(Event).where(Event.type == "click"))).all()
        assert len(clicks) >= 5
        for click in clicks:
            kinds = {c["kind"] for c in click.payload["selectors"]["candidates"]}
            assert len(kinds) >= 4, f"click {click.seq} has only {kinds}"
        n_results = (await s.exec(select(func.count()).select_from(ReplayResult))).one()
        click_ids = [c.id for c in clicks]
        n_candidates = (
            await s.exec(
                select(func.count())
                .select_from(SelectorCandidate)
                .where(col(SelectorCandidate.event_id).in_(click_ids))
            )
        ).one()
        assert n_results == 4 * n_candidates, "every click candidate replayed under 2 viewports x 2 states"
        verdicts = (await s.exec(select(ReplayVerdict))).all()
        assert len(verdicts) == 4 * len(clicks), "one verdict per click and condition"
        assert sum(v.outcome == "correct" for v in verdicts) >= len(verdicts) // 2
        shots = (await s.exec(select(Screenshot))).all()
        assert {x.reason for x in shots} >= {"click"}
        for shot in shots:
            assert (await live_server.services.blobs.get(shot.blob_key))[8:12] == b"WEBP"
    archive_key = body["archive_key"]
    assert isinstance(archive_key, str)
    # Everything the session captured is in its one archive: events, screenshots, DOM snapshots.
    archive = open_archive(
        await live_server.services.blobs.get(archive_key), load_or_create_archive_key(get_settings())
    )
    async with live_server.services.db.session() as s:
        snapshots = (await s.exec(select(Event).where(Event.type == "snapshot"))).all()
    assert snapshots and len(archive.snapshots) == len(snapshots) == len(
        [e for e in archive.session["events"] if e["type"] == "snapshot"]
    )
    for event in snapshots:
        stored = await live_server.services.blobs.get(event.payload["blob_key"])
        assert archive.snapshots[f"{event.seq}.html.gz"] == stored and stored[:2] == b"\x1f\x8b"
    assert len(archive.screenshots) == len(shots)
