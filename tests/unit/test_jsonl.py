"""Training examples built from plain click data, and the rows-to-clicks assembly (no I/O)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

from lab.db.models import Event, Page, Screenshot, SelectorCandidate, Session
from lab.pipeline.assemble import click_screenshot_keys, click_steps
from lab.pipeline.rows import SessionRows
from lab.training.examples import (
    ClickStep,
    PageContext,
    SelectorChoice,
    build_example,
    build_examples,
    page_path,
    ranked_selectors,
    to_jsonl,
)

WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 fake"


def click(**overrides: object) -> ClickStep:
    fields: dict[str, object] = {
        "seq": 7,
        "step_number": 2,
        "page": PageContext(
            url="http://127.0.0.1:8123/shop/v1/product.html?id=7",
            title="Blue kettle",
            outline="h1 Blue kettle\n  button Add to cart",
            headings=("Blue kettle",),
            landmarks=("main", "nav"),
        ),
        "target_tag": "button",
        "target_text": "Add to cart",
        "target_role": "button",
        "selectors": (
            SelectorChoice("testid", '[data-testid="add"]', rank=0),
            SelectorChoice("role", 'role=button[name="Add to cart"]', rank=1),
            SelectorChoice("css", "main > div > button", rank=2),
        ),
        "screenshot_webp": WEBP,
        "previous_actions": ('click link "Kettles"',),
    }
    fields.update(overrides)
    return ClickStep(**fields)  # type: ignore[arg-type]


def test_example_has_system_user_with_screenshot_and_assistant() -> None:
    example = build_example("shop", click())

    system, user, assistant = example["messages"]
    assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]
    assert isinstance(system["content"], str) and system["content"]
    text_part, image_part = user["content"]
    assert text_part["type"] == "text"
    for expected in (
        "Site: shop",
        "Page: /shop/v1/product.html?id=7",
        "Title: Blue kettle",
        "Step: 2",
        "button Add to cart",
        '1. click link "Kettles"',
    ):
        assert expected in text_part["text"]
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/webp;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == WEBP
    answer = json.loads(assistant["content"])
    assert answer["action"] == "click"
    assert [s["kind"] for s in answer["selectors"]] == ["testid", "role", "css"]
    assert answer["target"] == {"tag": "button", "text": "Add to cart"}


def test_click_without_screenshot_has_text_only() -> None:
    user = build_example("shop", click(screenshot_webp=None))["messages"][1]
    assert [part["type"] for part in user["content"]] == ["text"]


def test_replay_reliability_reorders_selectors_and_ties_keep_rank() -> None:
    choices = [
        SelectorChoice("testid", "a", rank=0, reliability=0.5),
        SelectorChoice("role", "b", rank=1, reliability=1.0),
        SelectorChoice("text", "c", rank=2, reliability=None),
        SelectorChoice("css", "d", rank=3, reliability=0.5),
    ]
    assert [c.kind for c in ranked_selectors(choices)] == ["role", "testid", "css", "text"]


def test_page_path_keeps_query() -> None:
    assert page_path("https://shop.example/cart?x=1#top") == "/cart?x=1"
    assert page_path("https://shop.example") == "/"


def test_jsonl_is_one_compact_object_per_line() -> None:
    examples = build_examples("shop", [click(seq=1, step_number=1), click(seq=2, step_number=2)])
    text = to_jsonl(examples)
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 2
    assert [json.loads(line) for line in lines] == examples


def _rows() -> SessionRows:
    session_id = uuid.uuid4()
    t = datetime(2025, 1, 1, tzinfo=UTC)
    session = Session(id=session_id, site="shop", status="processing", ended_at=t)
    page = Page(
        session_id=session_id,
        seq=0,
        url="http://x/shop/v1/index.html",
        title="Home",
        structure={"outline": "h1 Home", "headings": ["Home"]},
    )
    events = [
        Event(id=1, session_id=session_id, seq=0, type="page", t=t, url=page.url, page_id=page.id),
        Event(
            id=2,
            session_id=session_id,
            seq=1,
            type="input",
            t=t,
            url=page.url,
            payload={"field": {"label": "Search"}, "value": "kettle"},
        ),
        Event(
            id=3,
            session_id=session_id,
            seq=2,
            type="click",
            t=t,
            url=page.url,
            payload={
                "target": {"tag": "a", "text": "Kettles"},
                "selectors": {"candidates": [{"kind": "text", "selector": "text=Kettles", "score": 1}]},
            },
        ),
        Event(id=4, session_id=session_id, seq=3, type="screenshot", t=t, url=page.url),
        Event(
            id=5,
            session_id=session_id,
            seq=4,
            type="click",
            t=t,
            url=page.url,
            payload={"target": {"tag": "button", "text": "Buy", "role": "button"}},
        ),
    ]
    candidates = [
        SelectorCandidate(id=10, session_id=session_id, event_id=5, kind="css", value="#buy", rank=1, score=0.5),
        SelectorCandidate(
            id=11, session_id=session_id, event_id=5, kind="testid", value="[data-testid=buy]", rank=0, score=1.0
        ),
    ]
    shot = Screenshot(
        session_id=session_id,
        event_id=4,
        for_seq=2,
        reason="click",
        blob_key=f"sessions/{session_id}/screenshots/3.webp",
        size_bytes=10,
        width=1,
        height=1,
    )
    return SessionRows(session, [page], events, candidates, [], [shot], [], [])


def test_click_steps_carry_page_previous_actions_and_click_screenshot() -> None:
    rows = _rows()
    keys = click_screenshot_keys(rows)
    assert keys == {2: rows.screenshots[0].blob_key}

    first, second = click_steps(rows, {2: WEBP})

    assert first.event_id == 3 and first.step.step_number == 1
    assert first.step.page.title == "Home" and first.step.page.outline == "h1 Home"
    assert first.step.previous_actions == ('type "kettle" into Search',)
    assert [c.kind for c in first.step.selectors] == ["text"]  # from the wire payload: nothing stored
    assert first.step.screenshot_webp == WEBP
    assert second.step.previous_actions == ('type "kettle" into Search', 'click a "Kettles"')
    assert [c.kind for c in second.step.selectors] == ["testid", "css"]  # stored candidates, by rank
    assert second.step.screenshot_webp is None
