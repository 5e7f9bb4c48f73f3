"""Training examples built from plain action data, and the rows-to-actions assembly (no I/O)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

from lab.db.models import Event, Page, Screenshot, SelectorCandidate, Session
from lab.pipeline.assemble import FrameRef, action_frames, action_steps
from lab.pipeline.rows import SessionRows
from lab.training.examples import (
    ActionStep,
    PageContext,
    SelectorChoice,
    build_example,
    build_examples,
    page_path,
    ranked_selectors,
    to_jsonl,
)

WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 fake"


def click(**overrides: object) -> ActionStep:
    fields: dict[str, object] = {
        "action": "click",
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
    return ActionStep(**fields)  # type: ignore[arg-type]


def test_example_has_system_user_with_screenshot_and_a_tool_call() -> None:
    example = build_example("shop", click(), goal="Shop on shop: buy a kettle.")

    system, user, assistant = example["messages"]
    assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]
    assert isinstance(system["content"], str) and system["content"]
    text_part, image_part = user["content"]
    assert text_part["type"] == "text"
    for expected in (
        "Goal: Shop on shop: buy a kettle.",
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
    assert "content" not in assistant
    (call,) = assistant["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "click"
    arguments = json.loads(call["function"]["arguments"])
    assert [s["kind"] for s in arguments["selectors"]] == ["testid", "role", "css"]
    assert arguments["intent"] == 'click button "Add to cart"'


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
    examples = build_examples("shop", [click(seq=1, step_number=1), click(seq=2, step_number=2)], "browse")
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
            payload={
                "field": {"tag": "input", "type": "search", "label": "Search"},
                "value": "kettle",
                "selectors": {"candidates": [{"kind": "label", "selector": "label=Search", "score": 1}]},
            },
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


def test_action_steps_carry_page_previous_actions_insights_and_frames() -> None:
    rows = _rows()
    shot_key = rows.screenshots[0].blob_key
    frames = action_frames(rows, [1, 2, 4])
    # The click at seq 2 has its own frame; the click at seq 4 falls back to the latest frame of its
    # page; the fill at seq 1 came before any frame.
    assert frames == {2: FrameRef(shot_key, own=True), 4: FrameRef(shot_key, own=False)}

    fill, first, second = action_steps(rows, frames, {shot_key: WEBP})

    assert (fill.event_id, fill.step.action, fill.step.value, fill.step.field_label) == (2, "fill", "kettle", "Search")
    assert fill.step.screenshot_webp is None and fill.step.previous_actions == ()
    assert first.event_id == 3 and first.step.step_number == 2 and first.own_frame
    assert first.step.page.title == "Home" and first.step.page.outline == "h1 Home"
    assert first.step.previous_actions == ('type "kettle" into Search',)
    assert [c.kind for c in first.step.selectors] == ["text"]  # from the wire payload: nothing stored
    assert first.step.screenshot_webp == WEBP
    assert first.step.insights is not None and first.step.insights.page_kind == "home"
    assert second.step.previous_actions == ('type "kettle" into Search', 'click a "Kettles"')
    assert [c.kind for c in second.step.selectors] == ["testid", "css"]  # stored candidates, by rank
    assert second.step.screenshot_webp == WEBP and not second.own_frame


def test_a_click_that_only_focuses_a_field_is_folded_into_its_fill() -> None:
    session_id = uuid.uuid4()
    t = datetime(2025, 1, 1, tzinfo=UTC)
    url = "http://x/shop/v1/checkout.html"
    page = Page(session_id=session_id, seq=0, url=url, title="Checkout")
    email = {"candidates": [{"kind": "label", "selector": "label=Email", "score": 1}]}
    terms = {"candidates": [{"kind": "label", "selector": "label=Terms", "score": 1}]}

    def event(id_: int, type_: str, **payload: object) -> Event:
        return Event(id=id_, session_id=session_id, seq=id_, type=type_, t=t, url=url, payload=payload)

    events = [
        Event(id=0, session_id=session_id, seq=0, type="page", t=t, url=url, page_id=page.id),
        event(1, "click", target={"tag": "input", "role": "textbox", "text": ""}, selectors=email),
        event(2, "input", field={"tag": "input", "label": "Email"}, value="[email]", selectors=email),
        event(3, "click", target={"tag": "input", "role": "checkbox", "text": "Terms"}, selectors=terms),
        event(
            4, "input", field={"tag": "input", "type": "checkbox", "label": "Terms"}, value="checked", selectors=terms
        ),
        event(5, "click", target={"tag": "input", "role": "textbox", "text": ""}, selectors=email),
    ]
    rows = SessionRows(Session(id=session_id, site="shop"), [page], events, [], [], [], [], [])

    steps = [(a.step.seq, a.step.action) for a in action_steps(rows, {}, {})]

    # The email click only focused the field; the checkbox's click is its action (its input is not);
    # the last click is kept, since nothing was typed after it.
    assert steps == [(2, "fill"), (3, "click"), (5, "click")]
