"""Chat-format validation: valid API shapes pass, each kind of mistake lands under its key."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.training.examples import ActionStep, PageContext, SelectorChoice, build_example, to_jsonl
from lab.training.validate import (
    AZURE_LIMITS,
    OPENAI_LIMITS,
    limits_for,
    validate_example,
    validate_examples,
    validate_jsonl_text,
)

PNG_URL = "data:image/png;base64," + base64.b64encode(b"\x89PNG....").decode()


def keys(example: object) -> list[str]:
    return [e.key for e in validate_example(example)]


def vision_example() -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You find things."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}},
                ],
            },
            {"role": "assistant", "content": "A cheese.", "weight": 1},
        ]
    }


def tool_example() -> dict[str, Any]:
    return {
        "tools": [{"type": "function", "function": {"name": "click", "parameters": {"type": "object"}}}],
        "parallel_tool_calls": False,
        "messages": [
            {"role": "user", "content": "Add it to the cart", "name": "shopper"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "click", "arguments": '{"selector": "#add"}'},
                    }
                ],
                "weight": 0,
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "clicked"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "click", "arguments": "{}"}}],
            },
        ],
    }


def test_valid_vision_and_tool_examples_pass() -> None:
    assert keys(vision_example()) == []
    assert keys(tool_example()) == []
    assert (
        keys(
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
                ]
            }
        )
        == []
    )


def mutated(mutate: Any) -> dict[str, Any]:
    example = vision_example()
    mutate(example)
    return example


@pytest.mark.parametrize(
    ("example", "key"),
    [
        ([1, 2], "data_type"),
        ({"messages": []}, "missing_messages_list"),
        ({"prompt": "x"}, "missing_messages_list"),
        (mutated(lambda e: e["messages"][0].pop("role")), "message_missing_key"),
        (mutated(lambda e: e["messages"][0].pop("content")), "message_missing_key"),
        (mutated(lambda e: e["messages"][2].pop("content")), "message_missing_key"),
        (mutated(lambda e: e["messages"][0].update(colour="red")), "message_unrecognized_key"),
        (mutated(lambda e: e["messages"][1].update(tool_calls=[])), "message_unrecognized_key"),
        (mutated(lambda e: e["messages"][0].update(role="robot")), "unrecognized_role"),
        (mutated(lambda e: e["messages"][2].update(content="")), "missing_content"),
        (mutated(lambda e: e["messages"][2].update(content=None)), "missing_content"),
        (mutated(lambda e: e["messages"][2].update(content=42)), "missing_content"),
        (mutated(lambda e: e["messages"][1].update(content=[])), "missing_content"),
        (mutated(lambda e: e["messages"].pop(2)), "example_missing_assistant_message"),
        (mutated(lambda e: e["messages"][2].update(weight=2)), "invalid_weight"),
        (mutated(lambda e: e["messages"][2].update(weight=True)), "invalid_weight"),
        (mutated(lambda e: e["messages"][1].update(weight=1)), "invalid_weight"),
        (
            mutated(lambda e: e["messages"][2].update(content=[{"type": "image_url", "image_url": {"url": PNG_URL}}])),
            "image_not_in_user_message",
        ),
        (
            mutated(lambda e: e["messages"][1]["content"][1]["image_url"].update(url="ftp://x/y.png")),
            "invalid_image_url",
        ),
        (
            mutated(lambda e: e["messages"][1]["content"][1]["image_url"].update(url="data:image/gif;base64,R0lG")),
            "invalid_image_url",
        ),
        (
            mutated(lambda e: e["messages"][1]["content"][1]["image_url"].update(url="data:image/png;base64,@@@")),
            "invalid_image_url",
        ),
        (mutated(lambda e: e["messages"][1]["content"][1]["image_url"].update(detail="ultra")), "invalid_image_url"),
        (
            mutated(
                lambda e: e["messages"][1]["content"].extend(
                    [{"type": "image_url", "image_url": {"url": PNG_URL}}] * 10
                )
            ),
            "too_many_images",
        ),
        (
            mutated(lambda e: e["messages"][1]["content"].append({"type": "audio", "audio": "x"})),
            "invalid_content_part",
        ),
        (mutated(lambda e: e.update(temperature=1)), "example_unrecognized_key"),
    ],
)
def test_each_mistake_is_counted_under_its_key(example: object, key: str) -> None:
    assert key in keys(example)


def test_tool_mistakes() -> None:
    example = tool_example()
    example["messages"][1]["tool_calls"][0]["function"]["arguments"] = {"selector": "#add"}
    assert "invalid_tool_calls" in keys(example)
    example = tool_example()
    del example["messages"][2]["tool_call_id"]
    assert "message_missing_key" in keys(example)
    example = tool_example()
    example["tools"] = [{"name": "click"}]
    assert "invalid_tools" in keys(example)


def test_image_limits_are_per_provider() -> None:
    example = vision_example()
    example["messages"][1]["content"] += [{"type": "image_url", "image_url": {"url": PNG_URL}}] * 20
    assert "too_many_images" in [e.key for e in validate_example(example, OPENAI_LIMITS)]
    assert validate_example(example, AZURE_LIMITS) == []
    assert limits_for("azure") is AZURE_LIMITS and limits_for("openai") is OPENAI_LIMITS


def test_image_over_the_size_limit() -> None:
    big = "data:image/webp;base64," + base64.b64encode(b"\0" * (OPENAI_LIMITS.max_image_bytes + 1)).decode()
    example = mutated(lambda e: e["messages"][1]["content"][1]["image_url"].update(url=big))
    assert keys(example) == ["image_too_large"]


def test_report_counts_keys_and_lines() -> None:
    report = validate_examples(
        [vision_example(), {"messages": []}, mutated(lambda e: e["messages"][0].update(role="x", colour=1))]
    )
    assert report.example_count == 3
    assert not report.ok and report.invalid_count == 2
    assert [ex.line for ex in report.invalid] == [2, 3]
    assert report.error_counts == {"missing_messages_list": 1, "unrecognized_role": 1}
    assert report.to_dict()["error_counts"] == {"missing_messages_list": 1, "unrecognized_role": 1}


def test_jsonl_text_reports_lines_that_are_not_json() -> None:
    text = json.dumps(vision_example()) + "\n{not json\n\n" + json.dumps({"messages": []}) + "\n"
    report = validate_jsonl_text(text)
    assert report.example_count == 4
    assert [(ex.line, ex.errors[0].key) for ex in report.invalid] == [
        (2, "invalid_json"),
        (3, "invalid_json"),
        (4, "missing_messages_list"),
    ]


# --- properties -------------------------------------------------------------------------

texts = st.text(max_size=60)
kinds = st.sampled_from(["testid", "role", "label", "text", "attr", "id", "css", "xpath"])
selector_choices = st.builds(
    SelectorChoice,
    kind=kinds,
    selector=st.text(min_size=1, max_size=80),
    rank=st.integers(0, 20),
    reliability=st.one_of(st.none(), st.floats(0, 1)),
)
click_steps = st.builds(
    ActionStep,
    action=st.just("click"),
    seq=st.integers(0, 10_000),
    step_number=st.integers(1, 500),
    page=st.builds(
        PageContext,
        url=st.sampled_from(["http://127.0.0.1/a", "https://shop.example/p?id=1", "not a url"]),
        title=texts,
        outline=st.text(max_size=300),
        headings=st.lists(texts, max_size=4).map(tuple),
        landmarks=st.lists(texts, max_size=4).map(tuple),
    ),
    target_tag=texts,
    target_text=texts,
    selectors=st.lists(selector_choices, min_size=1, max_size=8).map(tuple),
    target_role=st.one_of(st.none(), texts),
    screenshot_webp=st.one_of(st.none(), st.binary(min_size=1, max_size=200)),
    previous_actions=st.lists(texts, max_size=30).map(tuple),
)


@given(site=st.text(max_size=30), steps=st.lists(click_steps, min_size=1, max_size=3))
def test_every_built_example_validates_clean(site: str, steps: list[ActionStep]) -> None:
    examples = [build_example(site, step) for step in steps]
    assert validate_examples(examples).error_counts == {}
    assert validate_jsonl_text(to_jsonl(examples)).ok


MUTATIONS: dict[str, Any] = {
    "unrecognized_role": lambda e, i: e["messages"][i].update(role="narrator"),
    "message_unrecognized_key": lambda e, i: e["messages"][i].update(extra_field=1),
    "missing_content": lambda e, i: e["messages"][i].update(content=""),
    "message_missing_key": lambda e, i: e["messages"][i].pop("content"),
    "invalid_weight": lambda e, i: e["messages"][i].update(weight=1 if e["messages"][i]["role"] != "assistant" else 7),
}


@given(step=click_steps, key=st.sampled_from(sorted(MUTATIONS)), index=st.integers(0, 1))
def test_a_mutation_is_reported_under_its_key(step: ActionStep, key: str, index: int) -> None:
    example = copy.deepcopy(build_example("shop", step))
    MUTATIONS[key](example, index)
    found = keys(example)
    assert key in found
    assert set(found) <= {key, "example_missing_assistant_message"}


@given(step=click_steps)
def test_dropping_the_assistant_message_is_reported(step: ActionStep) -> None:
    example = build_example("shop", step)
    example["messages"] = example["messages"][:2]
    assert keys(example) == ["example_missing_assistant_message"]


def test_jsonl_lines_end_only_at_newline() -> None:
    example = vision_example()
    example["messages"][0]["content"] = "line\u2028separator and next\x85line"
    text = json.dumps(example, ensure_ascii=False) + "\r\n"
    assert validate_jsonl_text(text).ok


def test_render_summarises_counts_and_first_lines() -> None:
    assert validate_examples([vision_example()]).render() == "1 examples, no errors found"
    report = validate_jsonl_text("{oops\n" + json.dumps({"messages": []}) + "\n")
    assert report.error_count == 2
    text = report.render()
    assert "2 examples, 2 invalid" in text
    assert "  invalid_json: 1" in text and "  missing_messages_list: 1" in text
    assert "line 1: invalid_json: not JSON" in text
