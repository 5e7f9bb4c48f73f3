"""Training examples with tools: one tool call per action, selectors ranked by replay reliability,
the goal, behaviour and screenshot in the user turn, personal data scrubbed, valid per the validator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.insights.behaviour import StepInsights
from lab.privacy import luhn_valid
from lab.training.examples import (
    ACTIONS,
    TOOLS,
    ActionStep,
    PageContext,
    SelectorChoice,
    build_example,
    taught_selectors,
    to_jsonl,
)
from lab.training.validate import validate_example, validate_jsonl_text
from lab.vision.intent import ScreenIntent

WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 fake"
SHOP = "http://127.0.0.1:8123/shop/v1"
INSIGHTS = StepInsights(
    page_kind="checkout",
    dwell_ms=1_500,
    hesitation_count=2,
    hesitation_ms=900,
    products_viewed=0,
    adds_to_cart=False,
    backtracks=1,
    on_revisited_page=False,
    scroll_depth_pct=40.0,
    price_checks=1,
    price_check_ms=300,
    cart_views=1,
)
SELECTORS = (
    SelectorChoice("testid", '[data-testid="email"]', rank=0, reliability=0.5),
    SelectorChoice("label", "label=Email", rank=1, reliability=1.0),
    SelectorChoice("css", "form > input:nth-child(2)", rank=2, reliability=0.0),
)


def step(**overrides: Any) -> ActionStep:
    fields: dict[str, Any] = {
        "seq": 12,
        "step_number": 5,
        "action": "fill",
        "page": PageContext(url=f"{SHOP}/checkout.html", title="Checkout", outline="form: Email (email) → Pay"),
        "selectors": SELECTORS,
        "target_tag": "input",
        "field_label": "Email",
        "value": "[email]",
        "screenshot_webp": WEBP,
        "previous_actions": ('click button "Checkout"',),
        "insights": INSIGHTS,
        "intent": ScreenIntent("enter Email", "checkout", 'input "Email"', 0.8, "dom-heuristic"),
    }
    fields.update(overrides)
    return ActionStep(**fields)


def call_of(example: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (call,) = example["messages"][2]["tool_calls"]
    return call["function"]["name"], json.loads(call["function"]["arguments"])


def test_tools_define_click_fill_select_navigate() -> None:
    assert [t["function"]["name"] for t in TOOLS] == list(ACTIONS)
    params = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    assert params["click"]["required"] == ["selectors", "intent"]
    assert params["fill"]["required"] == params["select"]["required"] == ["selectors", "value", "intent"]
    assert params["navigate"]["required"] == ["url", "intent"]
    item = params["click"]["properties"]["selectors"]["items"]
    assert item["required"] == ["kind", "selector"]


def test_fill_example_calls_fill_with_ranked_selectors_and_the_masked_value() -> None:
    example = build_example("shop", step(), goal="Shop on shop: check out.")

    assert validate_example(example) == []
    assert example["tools"] == TOOLS and example["parallel_tool_calls"] is False
    system, user, assistant = example["messages"]
    assert system["role"] == "system" and "[email]" in system["content"]
    text = user["content"][0]["text"]
    for expected in (
        "Goal: Shop on shop: check out.",
        "Page: /shop/v1/checkout.html",
        "Page type: checkout",
        "- dwell before acting: 1.5 s",
        "- hesitation: hovered 2 other controls for 0.9 s without clicking",
        "- backtracking: 1 return to earlier pages",
        "- scroll depth on this page: 40%",
        "- price checks: 1 (0.3 s); cart views: 1",
        '1. click button "Checkout"',
    ):
        assert expected in text
    assert user["content"][1]["type"] == "image_url"
    assert assistant == {"role": "assistant", "tool_calls": [assistant["tool_calls"][0]]}
    name, arguments = call_of(example)
    assert name == "fill"
    # Replay reliability ranks; the selector that never worked is not taught.
    assert arguments == {
        "selectors": [
            {"kind": "label", "selector": "label=Email"},
            {"kind": "testid", "selector": '[data-testid="email"]'},
        ],
        "value": "[email]",
        "intent": "enter Email",
    }


def test_select_and_click_examples() -> None:
    select = build_example("shop", step(action="select", field_label="Shipping", value="Express", intent=None))
    assert call_of(select) == (
        "select",
        {
            "selectors": [
                {"kind": "label", "selector": "label=Email"},
                {"kind": "testid", "selector": '[data-testid="email"]'},
            ],
            "value": "Express",
            "intent": 'select "Express" in Shipping',
        },
    )
    click = build_example("shop", step(action="click", target_tag="button", target_text="Pay", value=None, intent=None))
    name, arguments = call_of(click)
    assert (name, set(arguments), arguments["intent"]) == ("click", {"selectors", "intent"}, 'click button "Pay"')


def test_navigate_example_takes_a_path_on_the_same_site_and_a_url_elsewhere() -> None:
    here = build_example("shop", step(action="navigate", url=f"{SHOP}/cart.html?x=1", selectors=(), intent=None))
    assert call_of(here) == ("navigate", {"url": "/shop/v1/cart.html?x=1", "intent": "go to /shop/v1/cart.html?x=1"})
    away = build_example("shop", step(action="navigate", url="https://pay.example/session/1", selectors=()))
    assert call_of(away)[1]["url"] == "https://pay.example/session/1"
    assert validate_example(here) == [] and validate_example(away) == []


def test_an_element_action_without_selectors_is_refused() -> None:
    with pytest.raises(ValueError, match="selectors"):
        build_example("shop", step(action="click", selectors=()))


def test_all_selectors_stay_when_none_worked_in_replay() -> None:
    broken = [SelectorChoice("css", "a", 0, 0.0), SelectorChoice("xpath", "b", 1, 0.0)]
    assert [c.kind for c in taught_selectors(broken)] == ["css", "xpath"]


def test_personal_data_is_scrubbed_everywhere_and_masks_stay() -> None:
    example = build_example(
        "shop",
        step(
            action="click",
            page=PageContext(
                url=f"{SHOP}/confirmation.html",
                title="Thanks ada@example.com",
                outline="p Call +44 20 7946 0958 · card 4242 4242 4242 4242 · Thank you, •••",
                headings=("Order for grace@example.org",),
            ),
            selectors=(SelectorChoice("text", 'text="ada@example.com"'), SelectorChoice("css", "#ok")),
            target_text="4111-1111-1111-1111",
            previous_actions=('type "[email]" into Email', 'type "555-123-4567" into Phone'),
            intent=ScreenIntent("confirm for ada@example.com", "confirmation", "x", 0.5, "openai:gpt-4o-mini"),
        ),
    )
    text = json.dumps(example, ensure_ascii=False)
    for secret in ("ada@example.com", "grace@example.org", "7946 0958", "4242 4242", "4111-1111", "555-123-4567"):
        assert secret not in text
    for mask in ("[email]", "[phone]", "[card]", "•••"):
        assert mask in text
    _, arguments = call_of(example)
    assert arguments["selectors"][0] == {"kind": "text", "selector": 'text="[email]"'}
    assert arguments["intent"] == "confirm for [email]"
    assert validate_example(example) == []


# --- properties -------------------------------------------------------------------------

texts = st.text(max_size=40)
selector_choices = st.builds(
    SelectorChoice,
    kind=st.sampled_from(["testid", "role", "label", "text", "css", "xpath"]),
    selector=st.text(min_size=1, max_size=60),
    rank=st.integers(0, 20),
    reliability=st.one_of(st.none(), st.floats(0, 1)),
)
insights = st.builds(
    StepInsights,
    page_kind=st.sampled_from(["home", "listing", "product", "cart", "checkout", "confirmation", "account", "other"]),
    dwell_ms=st.one_of(st.none(), st.integers(0, 10**7)),
    hesitation_count=st.integers(0, 50),
    hesitation_ms=st.integers(0, 10**6),
    products_viewed=st.integers(0, 50),
    adds_to_cart=st.booleans(),
    backtracks=st.integers(0, 50),
    on_revisited_page=st.booleans(),
    scroll_depth_pct=st.one_of(st.none(), st.floats(0, 100)),
    price_checks=st.integers(0, 50),
    price_check_ms=st.integers(0, 10**6),
    cart_views=st.integers(0, 50),
)
action_steps = st.builds(
    ActionStep,
    seq=st.integers(0, 10_000),
    step_number=st.integers(1, 500),
    action=st.sampled_from(ACTIONS),
    page=st.builds(
        PageContext,
        url=st.sampled_from([f"{SHOP}/a.html", "https://shop.example/p?id=1", "not a url"]),
        title=texts,
        outline=st.text(max_size=200),
    ),
    selectors=st.lists(selector_choices, min_size=1, max_size=6).map(tuple),
    target_tag=texts,
    target_text=texts,
    field_label=st.one_of(st.none(), texts),
    value=st.one_of(st.none(), texts),
    url=st.one_of(st.none(), st.sampled_from([f"{SHOP}/cart.html", "https://elsewhere.example/"])),
    screenshot_webp=st.one_of(st.none(), st.binary(min_size=1, max_size=100)),
    previous_actions=st.lists(texts, max_size=25).map(tuple),
    insights=st.one_of(st.none(), insights),
)


@given(site=st.text(max_size=20), goal=texts, steps=st.lists(action_steps, min_size=1, max_size=3))
def test_every_tool_example_validates_clean(site: str, goal: str, steps: list[ActionStep]) -> None:
    examples = [build_example(site, s, goal) for s in steps]
    assert all(validate_example(e) == [] for e in examples)
    assert validate_jsonl_text(to_jsonl(examples)).ok
    for example, s in zip(examples, steps, strict=True):
        name, arguments = call_of(example)
        assert name == s.action and isinstance(arguments["intent"], str)


def luhn_number(digits: list[int]) -> str:
    """`digits` completed with the check digit that makes them Luhn-valid."""
    for check in range(10):
        candidate = "".join(map(str, digits)) + str(check)
        if luhn_valid(candidate):
            return candidate
    raise AssertionError("unreachable: one check digit always works")


def card_as_written(number: str, separator: str) -> str:
    """A card number the way pages and people write it: one run, groups of four, or Amex 4-6-5."""
    if not separator:
        return number
    if len(number) == 15:
        return separator.join((number[:4], number[4:10], number[10:]))
    return separator.join(number[i : i + 4] for i in range(0, len(number), 4))


emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}", fullmatch=True),
    st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)
cards = st.one_of(
    st.builds(luhn_number, st.lists(st.integers(0, 9), min_size=12, max_size=18)),
    st.builds(
        card_as_written,
        st.builds(luhn_number, st.lists(st.integers(0, 9), min_size=14, max_size=15)),
        st.sampled_from([" ", "-"]),
    ),
)
fillers = st.text(alphabet=st.sampled_from("abc XYZ:!?éü"), max_size=20)


@given(before=fillers, secret=st.one_of(emails, cards), where=st.sampled_from(["title", "outline", "text", "value"]))
def test_personal_data_never_survives_into_an_example(before: str, secret: str, where: str) -> None:
    planted = f"{before} {secret} end"
    page = PageContext(
        url=f"{SHOP}/checkout.html",
        title=planted if where == "title" else "Checkout",
        outline=planted if where == "outline" else "",
    )
    example = build_example(
        "shop",
        step(
            page=page,
            target_text=planted if where == "text" else "Pay",
            value=planted if where == "value" else "[email]",
            intent=None,
        ),
    )
    assert secret not in json.dumps(example, ensure_ascii=False)
    assert validate_example(example) == []
