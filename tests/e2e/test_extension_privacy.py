"""Seeded personal data typed into the shop's checkout must not be stored anywhere: not in
any table or JSON column, not in the blob store (screenshots, snapshots), not in the
encrypted session archive; the confirmation page that echoes it back ("Thank you, Zelphine!")
included. Screenshots show the sensitive boxes painted over."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx
import psycopg
from PIL import Image
from psycopg import sql
from sqlmodel import col, select

from lab.collect import walk_journey
from lab.config import get_settings
from lab.db.models import Screenshot
from lab.sites import load_site, serve_site
from lab.storage.archive import open_archive
from lab.storage.keys import load_or_create_archive_key
from tests.conftest import LiveServer
from tests.e2e.extension_session import SHOP, Extension, of_type, stored_events

NAME = "Zelphine Quorrister"
EMAIL = "zelphine.quorrister@example.org"
ADDRESS = "17 Vexmoor Lane, Glasshaven GH4 2ZQ, tel +44 20 7946 0958"
CARD = "4242 4242 4242 4242"
TYPED = {"name": NAME, "email": EMAIL, "address": ADDRESS, "card": CARD}
# Every way the seeded data could show up. Distinctive on purpose: none occurs by chance in
# base64 or binary data.
NEEDLES = (
    "Zelphine",
    "Quorrister",
    "zelphine.quorrister",
    "Vexmoor",
    "Glasshaven",
    "GH4 2ZQ",
    "+44 20 7946 0958",
    "7946 0958",
    "2079460958",
    "4242 4242 4242 4242",
    "4242424242424242",
)
# extension/screenshot.js: MASK_FILL
MASK_FILL = (0xD1, 0xD5, 0xDB)
DONE_TIMEOUT_S = 240


def found_in(text: str) -> list[str]:
    lowered = text.lower()
    return [n for n in NEEDLES if n.lower() in lowered]


def database_text(db_url: str) -> str:
    """Every row of every table (JSON columns included) as text."""
    chunks: list[str] = []
    with psycopg.connect(db_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert len(tables) >= 8
        for schema, table in tables:
            query = sql.SQL("SELECT t::text FROM {}.{} AS t").format(sql.Identifier(schema), sql.Identifier(table))
            chunks.extend(row[0] for row in conn.execute(query))
    return "\n".join(chunks)


async def blob_findings(server: LiveServer, session_id: str) -> dict[str, list[str]]:
    """Needles found per blob: screenshots as bytes, snapshots inflated, the archive decrypted."""
    blobs = server.services.blobs
    findings: dict[str, list[str]] = {}
    keys = await blobs.list("")
    assert any(k.endswith(".webp") for k in keys) and any(k.endswith(".html.gz") for k in keys)
    for key in keys:
        data = await blobs.get(key)
        if key.endswith(".gz"):
            text = gzip.decompress(data).decode("utf-8", "replace")
        elif key.endswith(".enc"):
            archive = open_archive(data, load_or_create_archive_key(get_settings()))
            assert archive.session_id == session_id
            text = json.dumps(archive.session) + archive.training_jsonl
            text += "".join(shot.decode("latin-1") for shot in archive.screenshots.values())
            text += "".join(gzip.decompress(dom).decode("utf-8", "replace") for dom in archive.snapshots.values())
            assert archive.snapshots, "the archive carries the DOM snapshots too"
        else:
            text = data.decode("latin-1")
        findings[key] = found_in(text)
    assert any(k.endswith(".enc") for k in keys), "the archive was written"
    return findings


def painted(image: Image.Image, box: Mapping[str, Any], scale: float, inset_px: int = 4) -> bool:
    """Whether the inside of `box` (CSS px) is the flat mask colour in the screenshot."""
    left, top = int(box["x"] * scale) + inset_px, int(box["y"] * scale) + inset_px
    right, bottom = (
        int((box["x"] + box["width"]) * scale) - inset_px,
        int((box["y"] + box["height"]) * scale) - inset_px,
    )
    region = image.crop((left, top, right, bottom)).convert("RGB")
    colours: list[tuple[int, tuple[int, int, int]]] = region.getcolors(maxcolors=1_000_000) or []  # type: ignore[assignment]
    matching = sum(n for n, c in colours if all(abs(a - b) <= 14 for a, b in zip(c, MASK_FILL, strict=True)))
    return matching >= 0.97 * region.width * region.height


async def wait_until_done(server: LiveServer, session_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DONE_TIMEOUT_S
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            r = await client.get(
                f"{server.url}/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {server.user_token}"}
            )
            body: dict[str, Any] = r.json()
            if body["status"] in ("done", "failed") or time.monotonic() > deadline:
                return body
            await asyncio.sleep(0.5)


async def screenshot_image(
    server: LiveServer, session_id: str, *, event_id: int | None = None, for_click: int | None = None
) -> Image.Image:
    """The picture of a screenshot event (by its id) or the one taken for a click (by the click's seq)."""
    async with server.services.db.session() as s:
        query = select(Screenshot).where(col(Screenshot.session_id) == session_id)
        if event_id is not None:
            query = query.where(Screenshot.event_id == event_id)
        else:
            query = query.where(Screenshot.for_seq == for_click, Screenshot.reason == "click")
        shot = (await s.exec(query)).one()
    return Image.open(io.BytesIO(await server.services.blobs.get(shot.blob_key)))


async def test_seeded_personal_data_is_found_nowhere_after_a_checkout(
    live_server: LiveServer, pipeline_worker: None, extension: Extension, db_url: str
) -> None:
    site = load_site(SHOP)
    journey = tuple(replace(step, value=TYPED[step.target]) if step.target in TYPED else step for step in site.journey)
    boxes: dict[str, Mapping[str, Any]] = {}
    async with serve_site(site) as base:
        session_id = await extension.start(live_server.url, live_server.participant_token)
        page = await extension.new_tab()
        place_order = journey[-1]
        await walk_journey(page, replace(site, journey=journey[:-1]), base, "v1")
        for target in ("name", "email", "address"):
            box = await page.locator(f"[data-lab-id={target}]").bounding_box()
            assert box is not None
            boxes[target] = box
        # The card field lives in a same-origin iframe (as payment providers' fields do).
        card = await page.frame_locator("iframe").locator("[data-lab-id=card]").bounding_box()
        assert card is not None
        boxes["card"] = card
        await walk_journey(page, replace(site, journey=(place_order,)), base, "v1")
        await page.wait_for_url("**/confirmation.html")
        await page.wait_for_timeout(4000)  # the confirmation page's burst
        echoed = await page.evaluate(
            """() => {
              const h1 = document.querySelector('h1');
              const range = document.createRange();
              const text = h1.firstChild;
              range.setStart(text, text.data.indexOf('Zelphine'));
              range.setEnd(text, text.data.indexOf('Zelphine') + 'Zelphine'.length);
              const r = range.getBoundingClientRect();
              return {x: r.x, y: r.y, width: r.width, height: r.height, viewport: innerWidth};
            }"""
        )
        await extension.stop()
        await page.close()

    body = await wait_until_done(live_server, session_id)
    assert body["status"] == "done", json.dumps(body, indent=1)

    db_hits = found_in(await asyncio.to_thread(database_text, db_url))
    blob_hits = {k: v for k, v in (await blob_findings(live_server, session_id)).items() if v}
    found = len(db_hits) + sum(len(v) for v in blob_hits.values())
    print(f"seeded PII strings found: {found} (database: {db_hits}, blobs: {blob_hits})")
    assert found == 0

    # Still useful: what kind of data went where, and the echo masked rather than dropped.
    events = await stored_events(live_server.services.db, session_id)
    inputs = {(e.payload["field"]["category"], e.payload["value"]) for e in of_type(events, "input")}
    assert {("name", "[name]"), ("email", "[email]"), ("address", "[address]"), ("payment", "")} <= inputs
    confirmation = of_type(events, "page")[-1]
    assert "Thank you, •••!" in confirmation.payload["structure"]["headings"]
    submit = of_type(events, "submit")[0].payload["form"]
    assert [f["category"] for f in submit["fields"]][:3] == ["name", "email", "address"]

    # The click on "Place order" was photographed with every filled field painted over ...
    click = next(e for e in of_type(events, "click") if e.payload["target"]["text"] == "Place order")
    image = await screenshot_image(live_server, session_id, for_click=click.seq)
    scale = image.width / 1280
    for target, field_box in boxes.items():
        assert painted(image, field_box, scale), f"the {target} field is not painted over"
    # ... and the confirmation page's echo of the name is painted over in its settled frame.
    settled = [e for e in of_type(events, "screenshot") if e.payload.get("burst") == confirmation.seq]
    assert settled and settled[-1].payload["masked_boxes"] >= 2
    frame = await screenshot_image(live_server, session_id, event_id=settled[-1].id)
    assert painted(frame, echoed, frame.width / echoed["viewport"], inset_px=1)
