"""Recorded sessions (tests/fixtures/sessions, real payloads of the extension) against wire v1."""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lab.capture.media import decode_webm, decode_webp, inflate_snapshot
from lab.capture.wire import EVENT_TYPES, parse_batch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sessions"
RECORDED = sorted(FIXTURES.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return body


def test_every_fixture_says_why_it_exists() -> None:
    assert len(RECORDED) >= 4
    for path in RECORDED:
        body = json.loads(path.read_text())
        assert len(body["why"]) > 80 and body["recorded_with"], path.name


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_recorded_batches_validate_event_by_event(path: Path) -> None:
    batch = json.loads(path.read_text())["batch"]
    events, errors = parse_batch(batch)
    assert errors == []
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    for event in events:
        if event.type == "screenshot":
            decode_webp(event.image)
        elif event.type == "snapshot":
            html = inflate_snapshot(base64.b64decode(event.data.split(",", 1)[1]))
            assert html.startswith("<!doctype html><html")
        elif event.type == "audio":
            decode_webm(event.data)


def test_the_fixtures_cover_every_event_type() -> None:
    seen: Counter[str] = Counter()
    for path in RECORDED:
        seen.update(e["type"] for e in json.loads(path.read_text())["batch"]["events"])
    assert set(EVENT_TYPES) - set(seen) <= {"visibility"}, (
        "visibility is recorded only by a browser without Playwright's focus emulation: "
        "tests/e2e/test_extension_visibility.py covers it end to end"
    )


def test_the_walking_skeleton_payloads_still_validate_unchanged() -> None:
    events, errors = parse_batch(load("walking_skeleton_v1")["batch"])
    assert not errors
    assert {e.type for e in events} == {"page", "click", "input", "navigation", "screenshot"}
    assert {e.value for e in events if e.type == "input"} == {"•••"}


def test_the_recorded_checkout_carries_no_seeded_personal_data() -> None:
    body = load("checkout_with_pii")
    texts = [json.dumps(body["batch"], ensure_ascii=False)]
    for event in body["batch"]["events"]:
        if event["type"] == "snapshot":
            texts.append(gzip.decompress(base64.b64decode(event["data"].split(",", 1)[1])).decode())
    text = "\n".join(texts).lower()
    assert [s for s in body["seeded"] if s.lower() in text] == []
    events, _ = parse_batch(body["batch"])
    values = {(e.field.category, e.value) for e in events if e.type == "input"}
    assert {("name", "[name]"), ("email", "[email]"), ("address", "[address]"), ("payment", "")} <= values
    confirmation = [e for e in events if e.type == "page"][-1]
    assert "Thank you, •••!" in confirmation.structure.headings
    assert any(e.type == "screenshot" and (e.masked_boxes or 0) >= 4 for e in events)
