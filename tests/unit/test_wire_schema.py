"""Wire v1's new event types: what validates, what is refused and under which field name."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lab.capture.wire import BLOB_FIELDS, EVENT_TYPES, parse_batch

SELECTORS = {
    "candidates": [{"kind": "css", "selector": "css=main > button", "score": 600}],
    "fingerprint": {"tag": "button"},
}
BASE = {"t": 1_795_000_000_000, "url": "https://shop.test/v1/index.html"}

VALID: dict[str, dict[str, Any]] = {
    "dblclick": {"target": {"tag": "img", "text": ""}, "selectors": SELECTORS, "x": 3, "y": 4},
    "submit": {"form": {"name": "Search", "fields": [{"tag": "input", "category": "search"}]}, "submitter": "Go"},
    "scroll": {"y": 1200, "direction": "down", "depth_pct": 64.5, "max_depth_pct": 80},
    "dwell": {"target": {"tag": "a", "text": "Help"}, "duration_ms": 740, "ended_by": "leave", "selectors": SELECTORS},
    "key": {"key": "Enter", "modifiers": ["shift"], "target": {"tag": "input"}},
    "visibility": {"state": "hidden"},
    "modal": {"state": "open", "modal_id": 1, "kind": "cookie", "title": "Cookies", "buttons": ["Accept all"]},
    "snapshot": {"for_seq": 1, "data": "data:application/gzip;base64,H4sIAAAAAAAA/w==", "raw_chars": 10},
    "audio": {"data": "data:audio/webm;codecs=opus;base64,GkXfow==", "duration_ms": 30000, "segment": 0},
    "navigation": {"kind": "push", "from_url": "https://shop.test/v1/index.html"},
}


def event(event_type: str, seq: int = 0, **over: Any) -> dict[str, Any]:
    return {"seq": seq, "type": event_type, **BASE, **VALID[event_type], **over}


def test_every_new_type_validates() -> None:
    events, errors = parse_batch({"v": 1, "events": [event(k, i) for i, k in enumerate(VALID)]})
    assert errors == [] and [e.type for e in events] == list(VALID)
    assert set(VALID) | {"page", "click", "input", "screenshot"} == set(EVENT_TYPES)


def test_binary_fields_are_named_for_ingest() -> None:
    assert BLOB_FIELDS == {"screenshot": "image", "snapshot": "data", "audio": "data"}


def test_refusals_name_the_field() -> None:
    bad = [
        event("scroll", 0, depth_pct=140),
        event("key", 1, key="a"),
        event("modal", 2, kind="toast"),
        event("snapshot", 3, data="data:text/html;base64,PGh0bWw+"),
        event("audio", 4, data="data:video/webm;base64,GkXfow=="),
        event("dwell", 5, duration_ms=-1),
    ]
    events, errors = parse_batch({"v": 1, "events": bad})
    assert events == []
    assert [(e.seq, e.field) for e in errors] == [
        (0, "events[0].depth_pct"),
        (1, "events[1].key"),
        (2, "events[2].kind"),
        (3, "events[3].data"),
        (4, "events[4].data"),
        (5, "events[5].duration_ms"),
    ]


@settings(deadline=None)
@given(
    kind=st.sampled_from(sorted(VALID)),
    seq=st.integers(min_value=0, max_value=2**40),
    extra=st.dictionaries(
        st.from_regex(r"x_[a-z]{1,8}", fullmatch=True), st.integers() | st.text(max_size=20), max_size=3
    ),
)
def test_unknown_fields_are_kept_so_newer_extensions_stay_compatible(
    kind: str, seq: int, extra: dict[str, Any]
) -> None:
    events, errors = parse_batch({"v": 1, "events": [event(kind, seq, **extra)]})
    assert errors == []
    dumped = events[0].model_dump()
    # Kept as sent, except that a NUL (which Postgres cannot store) reads as U+FFFD.
    assert all(dumped[k] == (v.replace("\x00", "\ufffd") if isinstance(v, str) else v) for k, v in extra.items())


@settings(deadline=None)
@given(st.lists(st.sampled_from(sorted(VALID)), min_size=1, max_size=12), st.integers(min_value=0, max_value=11))
def test_one_bad_event_never_costs_its_neighbours(kinds: list[str], broken: int) -> None:
    raw = [event(k, i) for i, k in enumerate(kinds)]
    index = broken % len(raw)
    raw[index] = {**raw[index], "t": -1}
    events, errors = parse_batch({"v": 1, "events": raw})
    assert len(events) == len(raw) - 1
    assert [(e.index, e.field) for e in errors] == [(index, f"events[{index}].t")]


def test_numbers_postgres_cannot_hold_are_refused_naming_the_field() -> None:
    """JSON carries any integer and (Python's reader) NaN; a column does not: refused here, never at insert."""
    shot = {"reason": "manual", "image": "data:image/webp;base64,UklGRg==", "width": 2**31, "height": 1}
    click = {"target": {"tag": "a"}, "selectors": SELECTORS, "x": float("nan")}
    bad = [
        {"seq": 2**63, "type": "visibility", **BASE, "state": "hidden"},
        {"seq": 1, "type": "visibility", **BASE, "t": 253_402_300_800_000, "state": "hidden"},
        {"seq": 2, "type": "screenshot", **BASE, **shot},
        {"seq": 3, "type": "screenshot", **BASE, **shot, "width": 1, "for_seq": 2**63},
        {"seq": 4, "type": "click", **BASE, **click},
        event("scroll", 5, depth_pct=float("inf")),
    ]
    events, errors = parse_batch({"v": 1, "events": bad})
    assert events == []
    assert [e.field for e in errors] == [
        "events[0].seq",
        "events[1].t",
        "events[2].width",
        "events[3].for_seq",
        "events[4].x",
        "events[5].depth_pct",
    ]
    edge = [
        {"seq": 2**63 - 1, "type": "visibility", **BASE, "t": 253_402_300_799_999, "state": "hidden"},
        {"seq": 1, "type": "screenshot", **BASE, **shot, "width": 2**31 - 1, "for_seq": 2**63 - 1},
    ]
    assert parse_batch({"v": 1, "events": edge})[1] == []


def test_a_lone_surrogate_reads_as_a_replacement_character() -> None:
    """The extension's `text.slice(0, n)` can cut an emoji in half; jsonb refuses the half that is left."""
    raw = {"seq": 0, "type": "page", **BASE, "title": "Caf\u2615 \ud83d", "structure": {"headings": ["\udc4dx"]}}
    (page,), errors = parse_batch({"v": 1, "events": [raw]})
    assert errors == []
    assert page.title == "Caf\u2615 \ufffd"
    assert page.structure.headings == ["\ufffdx"]


def test_nesting_deeper_than_the_limit_is_refused_naming_the_event() -> None:
    def nested(levels: int) -> Any:
        value: Any = 1
        for _ in range(levels):
            value = [value]
        return value

    # The event is level 0, its selectors 1, the fingerprint 2: 61 lists inside reach level 63.
    raw = [
        event("dwell", seq, selectors={**SELECTORS, "fingerprint": {"a": nested(n)}}) for seq, n in enumerate((61, 62))
    ]
    events, errors = parse_batch({"v": 1, "events": raw})
    assert [e.seq for e in events] == [0]
    assert [(e.seq, e.field, e.message) for e in errors] == [
        (1, "events[1]", "lists and objects nested deeper than 64 levels")
    ]
