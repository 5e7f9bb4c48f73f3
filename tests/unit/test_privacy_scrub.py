"""The server's second line of defence (lab.privacy.scrub) and its use at ingest."""

from __future__ import annotations

import base64
import gzip
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.capture.ingest import scrub_event
from lab.capture.media import MAX_SNAPSHOT_HTML_BYTES, decode_snapshot, inflate_snapshot
from lab.capture.wire import parse_batch
from lab.privacy.scrub import ScrubReport, luhn_valid, scrub_text, scrub_value

FILLER = st.sampled_from(
    ["Your order", "is confirmed", "Total $42.00", "on 2026-11-26", "ref FW-123456", "(2 items)", "—"]
)


def luhn_complete(prefix: str) -> str:
    """`prefix` plus the check digit that makes it Luhn-valid."""
    for d in "0123456789":
        if luhn_valid(prefix + d):
            return prefix + d
    raise AssertionError("unreachable")


cards = st.from_regex(r"4[0-9]{14}", fullmatch=True).map(luhn_complete)
emails = st.from_regex(r"[a-z]{3,10}(\.[a-z]{2,8})?@[a-z]{3,10}\.(com|org|co\.uk)", fullmatch=True)
phones = st.sampled_from(["+44 20 7946 0958", "(555) 123-4567", "555-123-4567", "020 7946 0958", "+1 415 555 0132"])


def grouped(card: str) -> str:
    return " ".join(card[i : i + 4] for i in range(0, 16, 4))


@settings(deadline=None)
@given(st.lists(FILLER, max_size=6), cards, emails, phones, st.booleans())
def test_generated_personal_data_never_survives(
    filler: list[str], card: str, email: str, phone: str, spaced: bool
) -> None:
    shown = grouped(card) if spaced else card
    text = " ".join([*filler, "card", shown, "mail", email, "call", phone, *filler])
    report = ScrubReport()
    clean = scrub_text(text, report)
    for secret in (card, grouped(card), email, phone):
        assert secret not in clean
    assert report.counts == {"card": 1, "email": 1, "phone": 1}
    assert scrub_text(clean) == clean, "scrubbing is idempotent"


@settings(deadline=None)
@given(st.lists(FILLER, min_size=1, max_size=8))
def test_ordinary_shop_text_is_left_alone(filler: list[str]) -> None:
    text = " ".join(filler)
    assert scrub_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "4242 4242 4242 4241",
        "M10 10 20 20 30 30 40 40",
        "id 1234567890123",
        "0.4242424242424242",
        "v1.2.3",
        "$1,299.00",
    ],
)
def test_numbers_that_are_not_personal_data_stay(text: str) -> None:
    assert scrub_text(text) == text


@settings(deadline=None)
@given(st.from_regex(r"[0-9]{12,18}", fullmatch=True))
def test_luhn_agrees_with_the_reference(digits: str) -> None:
    total = sum(int(d) if i % 2 == 0 else sum(divmod(int(d) * 2, 10)) for i, d in enumerate(reversed(digits)))
    assert luhn_valid(digits) is (total % 10 == 0)


def test_scrub_value_walks_json_and_skips_binary_keys() -> None:
    data = {"title": "Hi ann@example.com", "image": "data:image/webp;base64,ann@example.com", "n": 4242424242424242}
    data["items"] = [{"text": "card 4242 4242 4242 4242"}]
    assert scrub_value(data, skip_keys=frozenset({"image"})) == {
        "title": "Hi [email]",
        "image": "data:image/webp;base64,ann@example.com",
        "n": 4242424242424242,
        "items": [{"text": "card [card]"}],
    }


def test_ingest_scrubs_an_event_the_browser_let_through() -> None:
    raw = {
        "seq": 0,
        "type": "page",
        "t": 1_795_000_000_000,
        "url": "https://shop.test/thanks?email=ann%40example.com&ref=ann@example.com",
        "title": "Thanks ann@example.com",
        "structure": {"headings": ["Receipt sent to ann@example.com"], "outline": "h1 Call +44 20 7946 0958"},
    }
    (event,), _ = parse_batch({"v": 1, "events": [raw]})
    report = ScrubReport()
    clean = scrub_event(event, report)
    assert clean.title == "Thanks [email]"
    assert clean.structure.headings == ["Receipt sent to [email]"]
    assert clean.structure.outline == "h1 Call [phone]"
    assert clean.url.endswith("ref=[email]")
    assert report.as_dict() == {"email": 3, "phone": 1}
    assert scrub_event(clean, ScrubReport()) is clean, "a clean event is passed through untouched"


def test_snapshots_are_scrubbed_inside_their_gzip() -> None:
    html = "<!doctype html><html><body><p>Mail ann@example.com</p><svg><path d='M10 10 20 20'/></svg></body></html>"
    url = "data:application/gzip;base64," + base64.b64encode(gzip.compress(html.encode())).decode()
    report = ScrubReport()
    stored = gzip.decompress(decode_snapshot(url, report)).decode()
    assert "ann@example.com" not in stored and "[email]" in stored and "M10 10 20 20" in stored
    clean = "data:application/gzip;base64," + base64.b64encode(gzip.compress(b"<p>nothing</p>")).decode()
    assert decode_snapshot(clean, ScrubReport()) == base64.b64decode(clean.split(",", 1)[1]), "clean bytes kept as sent"


def test_a_snapshot_that_inflates_too_far_is_refused() -> None:
    bomb = gzip.compress(b"a" * (MAX_SNAPSHOT_HTML_BYTES + 1))
    with pytest.raises(ValueError, match=re.escape("data: the snapshot inflates beyond")):
        inflate_snapshot(bomb)
    with pytest.raises(ValueError, match="data: not a gzip file"):
        inflate_snapshot(b"<html>")
