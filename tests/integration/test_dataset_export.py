"""Site datasets from real DB rows: sessions written through `lab.capture.ingest`, the training
step run on each, then the dataset of accepted sessions built, split by session and validated.
A rejected session's examples never reach it."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlmodel import col, select

from lab.capture import ingest
from lab.capture.wire import SessionOpen, parse_batch
from lab.config import Settings, get_settings
from lab.db import Database
from lab.db.models import Session, TrainingExample
from lab.pipeline import run_step
from lab.storage.blobs import LocalBlobStore
from lab.training.dataset import build_site_dataset, record_splits
from lab.training.validate import validate_jsonl_text

T0_MS = 1_735_689_600_000
BASE = "http://127.0.0.1:9000/shop/v1"


def webp_data_url(shade: int) -> str:
    image = Image.new("RGB", (320, 200), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 200, 60), fill=(shade, 40, 120))
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=80)
    return "data:image/webp;base64," + base64.b64encode(out.getvalue()).decode()


def selectors(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"candidates": [{"kind": k, "selector": s, "score": 1.0 - i / 10} for i, (k, s) in enumerate(pairs)]}


def shopping_events(marker: str) -> list[dict[str, Any]]:
    """A checkout journey: click to a product, add it, check out with masked fields, place the order."""
    events: list[dict[str, Any]] = []

    def add(event: dict[str, Any], dt_ms: int = 1_000) -> int:
        seq = len(events)
        events.append({"seq": seq, "t": T0_MS + seq * dt_ms, **event})
        return seq

    def page(path: str, title: str, outline: str = "") -> None:
        add({"type": "page", "url": f"{BASE}/{path}", "title": title, "structure": {"outline": outline}})

    def click(path: str, text: str, testid: str) -> None:
        seq = add(
            {
                "type": "click",
                "url": f"{BASE}/{path}",
                "target": {"tag": "button", "text": text, "role": "button"},
                "selectors": selectors(
                    ("testid", f'[data-testid="{testid}"]'), ("role", f"role=button[name={text!r}]")
                ),
            }
        )
        shot = webp_data_url(seq * 20 % 255)
        add({"type": "screenshot", "url": f"{BASE}/{path}", "reason": "click", "for_seq": seq, "image": shot}, 10)
        events[-1].update(width=320, height=200)

    def field(path: str, tag: str, label: str, value: str, **extra: Any) -> None:
        add(
            {
                "type": "input",
                "url": f"{BASE}/{path}",
                "field": {"tag": tag, "label": label, "name": label.lower(), **extra},
                "value": value,
                "selectors": selectors(("label", f"label={label}"), ("css", f"#{label.lower()}")),
            }
        )

    page("index.html", f"Shop {marker}", "h1 Kettles\n  link Blue kettle")
    click("index.html", "Blue kettle", "product-4")
    page("product.html?id=4", "Blue kettle", "h1 Blue kettle\n  button Add to cart")
    click("product.html?id=4", "Add to cart", "add-to-cart")
    page("checkout.html", "Checkout", "form: Email (email) · Shipping · Card → Place order\np Help: help@shop.example")
    field("checkout.html", "input", "Email", "[email]", type="email", category="email", sensitive=True)
    field("checkout.html", "select", "Shipping", "Express", category="choice")
    field("checkout.html", "input", "Card", "", category="payment", sensitive=True)
    click("checkout.html", "Place order", "place-order")
    page("confirmation.html", "Thank you", "h1 Thank you")
    return events


async def record(database: Database, blobs: LocalBlobStore, site: str, marker: str, verdict: str) -> uuid.UUID:
    """One session written as the product writes it, its training step run, and its review verdict set."""
    async with database.session() as s:
        session = await ingest.open_session(s, None, SessionOpen(site=site, mode="automated"))
        events, errors = parse_batch({"v": 1, "events": shopping_events(marker)})
        assert errors == []
        ack = await ingest.ingest_batch(s, blobs, session, events, errors)
        assert ack.errors == []
        await ingest.complete_session(s, session)
        session_id = session.id
    await run_step(database, blobs, session_id, "training")
    async with database.session() as s:
        row = await s.get(Session, session_id)
        assert row is not None
        row.review_status = verdict
        s.add(row)
    return session_id


@pytest.fixture
def blobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalBlobStore]:
    """A local blob store, and settings without an OpenAI key: intent comes from the DOM analyzer."""
    monkeypatch.setenv("CODESIGHT_OPENAI_API_KEY", "")
    get_settings.cache_clear()
    yield LocalBlobStore(tmp_path / "blobs")
    get_settings.cache_clear()


async def test_site_dataset_holds_accepted_sessions_split_by_session(database: Database, blobs: LocalBlobStore) -> None:
    first = await record(database, blobs, "shop", "ALPHA", "accepted")
    second = await record(database, blobs, "shop", "BRAVO", "accepted")
    rejected = await record(database, blobs, "shop", "REJECTED", "rejected")
    pending = await record(database, blobs, "shop", "PENDING", "needs_review")
    await record(database, blobs, "books", "OTHER-SITE", "accepted")
    settings = Settings(ft_provider="openai", ft_model="gpt-4o-2024-08-06", openai_api_key=None)

    async with database.session() as s:
        dataset = await build_site_dataset(s, "shop", settings)

    everything = dataset.train_jsonl + dataset.validation_jsonl
    assert "Shop ALPHA" in everything and "Shop BRAVO" in everything
    for absent in ("Shop REJECTED", "Shop PENDING", "Shop OTHER-SITE"):
        assert absent not in everything
    assert set(dataset.splits) == {first, second} and set(dataset.splits.values()) == {"train", "validation"}
    per_session = 6  # 3 clicks, 2 fills, 1 select
    assert dataset.counts() == {
        "sessions": 2,
        "train_sessions": 1,
        "validation_sessions": 1,
        "train_examples": per_session,
        "validation_examples": per_session,
        "skipped_invalid": 0,
    }
    for text in (dataset.train_jsonl, dataset.validation_jsonl):
        assert validate_jsonl_text(text).ok
        markers = {marker for marker in ("ALPHA", "BRAVO") if f"Shop {marker}" in text}
        assert len(markers) == 1, "one session per split: never split by step"
    assert dataset.train_report.ok and dataset.validation_report.ok
    # The provider's limits: too few examples for a job yet, and images are fine for this vision model.
    assert {p.code for p in dataset.problems} == {"invalid_n_examples"}

    examples = [json.loads(line) for line in dataset.train_jsonl.splitlines()]
    calls = [json.loads(e["messages"][2]["tool_calls"][0]["function"]["arguments"]) for e in examples]
    names = [e["messages"][2]["tool_calls"][0]["function"]["name"] for e in examples]
    assert names == ["click", "click", "fill", "select", "fill", "click"]
    assert [c.get("value") for c in calls] == [None, None, "[email]", "Express", "[payment]", None]
    assert calls[1]["intent"] == "add the product to the cart"
    assert calls[0]["selectors"][0] == {"kind": "testid", "selector": '[data-testid="product-4"]'}
    first_user = examples[0]["messages"][1]["content"]
    assert first_user[1]["image_url"]["url"].startswith("data:image/webp;base64,")
    goal = 'Goal: Shop on shop: add "Blue kettle" to the cart, then check out and place the order.'
    assert first_user[0]["text"].startswith(goal + "\nSite: shop\nPage: /shop/v1/index.html")
    assert "help@shop.example" not in dataset.train_jsonl and "[email]" in dataset.train_jsonl

    async with database.session() as s:
        await record_splits(s, dataset)
    async with database.session() as s:
        rows = (await s.exec(select(TrainingExample).where(col(TrainingExample.site) == "shop"))).all()
    splits_by_session: dict[uuid.UUID, set[str]] = {}
    for row in rows:
        splits_by_session.setdefault(row.session_id, set()).add(row.split)
    assert splits_by_session[first] == {dataset.splits[first]}
    assert splits_by_session[second] == {dataset.splits[second]}
    assert rejected in splits_by_session and pending in splits_by_session  # stored, just never exported


async def test_a_session_rejected_after_training_leaves_the_dataset(database: Database, blobs: LocalBlobStore) -> None:
    kept = await record(database, blobs, "shop", "KEPT", "accepted")
    later = await record(database, blobs, "shop", "LATER", "accepted")
    settings = Settings(openai_api_key=None)
    async with database.session() as s:
        before = await build_site_dataset(s, "shop", settings)
        row = await s.get(Session, later)
        assert row is not None
        row.review_status = "rejected"
        s.add(row)
    async with database.session() as s:
        after = await build_site_dataset(s, "shop", settings)

    assert set(before.splits) == {kept, later} and set(after.splits) == {kept}
    assert "Shop LATER" not in after.train_jsonl + after.validation_jsonl
    assert after.counts()["sessions"] == 1
