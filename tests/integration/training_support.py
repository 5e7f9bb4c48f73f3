"""Support for the training-run tests: shopping sessions written as the product writes them (wire
events through `lab.capture.ingest`, the pipeline's training step, a review verdict; optionally
with the DOM snapshots the extension stores after each page), every provider pointed at the local
OpenAI-compatible server, a worker that follows short jobs quickly, and waiting for a run."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import io
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import procrastinate
import pytest
from PIL import Image, ImageDraw

from lab.capture import ingest
from lab.capture.wire import SessionOpen, parse_batch
from lab.config import Settings, get_settings
from lab.db import Database
from lab.db.models import FINAL_RUN_STATUSES, Session
from lab.pipeline import run_step
from lab.storage.blobs import BlobStore
from lab.training.dataset import build_site_dataset
from lab.training.fake_openai import RunningFake
from workers.app import QUEUES

T0_MS = 1_767_225_600_000
BASE = "http://127.0.0.1:9000/shop/v1"
MODEL = "gpt-4o-2024-08-06"
API_VERSION = "2025-04-01-preview"
# Azure's control plane as the tests address it (the local server answers ARM's paths too).
ARM_TOKEN = "arm-token"
ARM_SCOPE = {"subscription_id": "sub-test", "resource_group": "rg-test", "account": "codesight-test"}
RUN_TIMEOUT_S = 30.0
# Each session teaches 5 steps: 3 clicks, 1 fill, 1 select.
STEPS_PER_SESSION = 5

PAGES = {
    "index.html": '<h1>Kettles</h1><a data-testid="product-4" href="product.html?id=4">Blue kettle</a>'
    '<a data-testid="product-5" href="product.html?id=5">Red kettle</a>',
    "product.html?id=4": '<h1>Blue kettle</h1><button data-testid="add-to-cart">Add to cart</button>'
    "<button>Add to wishlist</button>",
    "checkout.html": '<h1>Checkout</h1><form><label>Email <input id="email" name="email"></label>'
    '<label>Shipping <select id="shipping"><option>Standard</option><option>Express</option></select></label>'
    '<button type="button" data-testid="place-order">Place order</button>'
    '<button type="button" data-testid="save-order">Save for later</button></form>',
    "confirmation.html": "<h1>Thank you</h1>",
}


def webp_data_url(shade: int) -> str:
    image = Image.new("RGB", (320, 200), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 200, 60), fill=(shade, 40, 120))
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=80)
    return "data:image/webp;base64," + base64.b64encode(out.getvalue()).decode()


def snapshot_data_url(html: str) -> str:
    return "data:application/gzip;base64," + base64.b64encode(gzip.compress(html.encode())).decode()


def page_html(path: str, marker: str) -> str:
    return f"<!doctype html><html><head><title>{marker}</title></head><body><main>{PAGES[path]}</main></body></html>"


def selectors(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"candidates": [{"kind": k, "selector": s, "score": 1.0 + i} for i, (k, s) in enumerate(pairs)]}


def shopping_events(marker: str, snapshots: bool = False, sloppy: bool = False) -> list[dict[str, Any]]:
    """Product, add to cart, check out (masked email, a shipping choice), place the order; a `sloppy`
    recording has no screenshots and only positional selectors, which quality grading rejects."""
    events: list[dict[str, Any]] = []

    def add(event: dict[str, Any], dt_ms: int = 1_000) -> int:
        seq = len(events)
        events.append({"seq": seq, "t": T0_MS + seq * dt_ms, **event})
        return seq

    def page(path: str, title: str, outline: str) -> None:
        url = f"{BASE}/{path}"
        seq = add({"type": "page", "url": url, "title": title, "structure": {"outline": outline}})
        if snapshots:
            add(
                {"type": "snapshot", "url": url, "for_seq": seq, "data": snapshot_data_url(page_html(path, marker))}, 10
            )

    def click(path: str, text: str, *pairs: tuple[str, str]) -> None:
        if sloppy:
            pairs = (("xpath", f"/html/body/main/*[{len(events)}]"),)
        seq = add(
            {
                "type": "click",
                "url": f"{BASE}/{path}",
                "target": {"tag": "button", "text": text, "role": "button"},
                "selectors": selectors(*pairs),
            }
        )
        if sloppy:
            return
        shot = {"type": "screenshot", "url": f"{BASE}/{path}", "reason": "click", "for_seq": seq}
        add({**shot, "image": webp_data_url(seq * 20 % 255), "width": 320, "height": 200}, 10)

    def field(label: str, tag: str, value: str, css: str, **extra: Any) -> None:
        add(
            {
                "type": "input",
                "url": f"{BASE}/checkout.html",
                "field": {"tag": tag, "label": label, "name": label.lower(), **extra},
                "value": value,
                "selectors": selectors(("label", f"label={label}"), ("css", css)),
            }
        )

    page("index.html", f"Shop {marker}", "h1 Kettles\n  link Blue kettle\n  link Red kettle")
    click("index.html", "Blue kettle", ("testid", '[data-testid="product-4"]'), ("text", 'text="Blue kettle"'))
    page("product.html?id=4", "Blue kettle", "h1 Blue kettle\n  button Add to cart")
    click("product.html?id=4", "Add to cart", ("testid", '[data-testid="add-to-cart"]'), ("css", "main > button"))
    page("checkout.html", "Checkout", "form: Email (email) · Shipping → Place order")
    field("Email", "input", "[email]", "#email", type="email", category="email", sensitive=True)
    field("Shipping", "select", "Express", "#shipping", category="choice")
    click(
        "checkout.html",
        "Place order",
        ("testid", '[data-testid="place-order"]'),
        ("css", "form > button"),  # matches both buttons: only the test id resolves on the page
    )
    page("confirmation.html", "Thank you", "h1 Thank you")
    return events


async def record_session(
    database: Database,
    blobs: BlobStore,
    site: str,
    marker: str,
    verdict: str | None,
    *,
    snapshots: bool = False,
    sloppy: bool = False,
) -> uuid.UUID:
    """One session ingested, its training examples built, and its review verdict set (by hand, or by
    the quality step when `verdict` is None)."""
    async with database.session() as s:
        session = await ingest.open_session(s, None, SessionOpen(site=site, mode="automated"))
        events, errors = parse_batch({"v": 1, "events": shopping_events(marker, snapshots, sloppy)})
        assert errors == []
        ack = await ingest.ingest_batch(s, blobs, session, events, errors)
        assert ack.errors == [], ack.errors
        await ingest.complete_session(s, session)
        session_id = session.id
    if verdict is None:
        await run_step(database, blobs, session_id, "quality")
    await run_step(database, blobs, session_id, "training")
    if verdict is None:
        return session_id
    async with database.session() as s:
        row = await s.get(Session, session_id)
        assert row is not None
        row.review_status = verdict
        s.add(row)
    return session_id


async def record_trainable_site(
    database: Database,
    blobs: BlobStore,
    site: str = "shop",
    *,
    min_train_examples: int = 10,
    snapshots: bool = False,
    max_sessions: int = 12,
    graded: bool = False,
) -> list[uuid.UUID]:
    """Accepted sessions until the site's dataset has `min_train_examples` training examples and a
    validation split (sessions are split by the hash of their random id); `graded` ones are accepted
    by the quality step rather than by hand."""
    settings = Settings(ft_provider="openai", ft_model=MODEL)
    recorded: list[uuid.UUID] = []
    for n in range(max_sessions):
        verdict = None if graded else "accepted"
        recorded.append(await record_session(database, blobs, site, f"ACCEPTED-{n}", verdict, snapshots=snapshots))
        async with database.session() as s:
            counts = (await build_site_dataset(s, site, settings)).counts()
        if counts["train_examples"] >= min_train_examples and counts["validation_examples"]:
            return recorded
    raise AssertionError(f"no trainable split after {max_sessions} sessions")


@contextlib.contextmanager
def fake_settings(monkeypatch: pytest.MonkeyPatch, server: RunningFake) -> Iterator[None]:
    """Every provider pointed at the local server, through the environment as in production
    (the web app and the worker both read it), Azure with ARM settings (so CodeSight makes a
    deployment per fine-tuned model); nothing of the developer's CODESIGHT_* leaks in."""
    for name in [n for n in os.environ if n.startswith("CODESIGHT_")]:
        monkeypatch.delenv(name)
    env = {
        "CODESIGHT_OPENAI_API_KEY": "sk-test",
        "CODESIGHT_OPENAI_BASE_URL": server.openai_base_url,
        "CODESIGHT_AZURE_ENDPOINT": server.azure_endpoint,
        "CODESIGHT_AZURE_API_KEY": "azure-key",
        "CODESIGHT_AZURE_API_VERSION": API_VERSION,
        "CODESIGHT_AZURE_SUBSCRIPTION_ID": ARM_SCOPE["subscription_id"],
        "CODESIGHT_AZURE_RESOURCE_GROUP": ARM_SCOPE["resource_group"],
        "CODESIGHT_AZURE_ACCOUNT": ARM_SCOPE["account"],
        "CODESIGHT_AZURE_ARM_TOKEN": ARM_TOKEN,
        "CODESIGHT_AZURE_ARM_ENDPOINT": server.url,
        "CODESIGHT_AZURE_DEPLOYMENT_POLL_S": "0.02",
        "CODESIGHT_AZURE_DEPLOYMENT_TIMEOUT_S": "20",
        "CODESIGHT_FT_MODEL": MODEL,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


@contextlib.asynccontextmanager
async def running_worker(queue: procrastinate.App, concurrency: int = 4) -> AsyncIterator[None]:
    """A real worker on the pipeline and training queues that looks for due jobs often (short fake jobs move fast)."""
    worker = asyncio.create_task(
        queue.run_worker_async(
            queues=list(QUEUES), concurrency=concurrency, install_signal_handlers=False, fetch_job_polling_interval=0.05
        )
    )
    try:
        yield
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def start_run(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/training/runs", json={"site": "shop", **body})
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


async def wait_for_run(
    client: httpx.AsyncClient, run_id: str, until: tuple[str, ...] = FINAL_RUN_STATUSES
) -> dict[str, Any]:
    """The run (API view) once its status is one of `until`."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        body: dict[str, Any] = (await client.get(f"/api/v1/training/runs/{run_id}")).json()
        if body["status"] in until:
            return body
        assert time.monotonic() < deadline, f"run still {body['status']}: {[e['message'] for e in body['events']]}"
        await asyncio.sleep(0.05)
