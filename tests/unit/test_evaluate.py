"""Scoring a model on held-out steps (action, element, step success), and the deploy decision."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab.training.evaluate import (
    Call,
    EvalStep,
    Metrics,
    call_from_tool_calls,
    deploy_decision,
    eval_step,
    judge_step,
    metrics,
    page_type_of,
    score,
    selector_list_match,
)
from lab.training.examples import ActionStep, PageContext, SelectorChoice, build_example


def example(action: str = "click", value: str | None = None, path: str = "checkout.html") -> dict[str, Any]:
    step = ActionStep(
        seq=3,
        step_number=2,
        action=action,  # type: ignore[arg-type]
        page=PageContext(url=f"https://shop.example/{path}", title="Checkout"),
        selectors=(
            SelectorChoice("testid", '[data-testid="email"]', rank=0, reliability=1.0),
            SelectorChoice("css", "form > input:nth-of-type(1)", rank=1, reliability=0.5),
        ),
        target_tag="input",
        field_label="Email",
        value=value,
        url="https://shop.example/cart.html" if action == "navigate" else None,
    )
    return build_example("shop", step, goal="Buy a kettle")


def step_of(body: dict[str, Any]) -> EvalStep:
    return eval_step(body, "s:1", "shop", "s", 1)


def predicted(name: str, **arguments: Any) -> Call:
    return call_from_tool_calls([(name, json.dumps(arguments))])


SELECTORS = [{"kind": "testid", "selector": '[data-testid="email"]'}]


def test_eval_step_splits_prompt_from_the_expected_call() -> None:
    step = step_of(example("fill", "[email]"))

    assert [m["role"] for m in step.messages] == ["system", "user"]
    assert step.expected.name == "fill" and step.expected.value == "[email]"
    assert step.expected.selectors() == ['[data-testid="email"]', "form > input:nth-of-type(1)"]
    assert step.page_type == "checkout" and step.tools


def test_page_type_comes_from_the_prompt_or_the_path() -> None:
    assert page_type_of([{"role": "user", "content": "Page: /a\nPage type: Product listing\n"}]) == "product listing"
    assert page_type_of([{"role": "user", "content": "Site: shop\nPage: /cart.html?x=1\n"}]) == "cart"
    assert page_type_of([{"role": "user", "content": "Page: /\n"}]) == "home"
    assert page_type_of([{"role": "user", "content": "nothing"}]) == "unknown"


def test_a_right_fill_succeeds_and_a_wrong_value_does_not() -> None:
    step = step_of(example("fill", "[email]"))

    right = judge_step(step, predicted("fill", selectors=SELECTORS, value=" [EMAIL] "))
    wrong_value = judge_step(step, predicted("fill", selectors=SELECTORS, value="someone"))

    assert (right.action_ok, right.element_ok, right.value_ok, right.step_ok) == (True, True, True, True)
    assert (wrong_value.action_ok, wrong_value.element_ok, wrong_value.step_ok) == (True, True, False)
    assert right.element_method == "selector_list"


def test_the_dom_check_overrides_the_selector_list() -> None:
    step = step_of(example("click"))
    call = predicted("click", selectors=SELECTORS)

    assert judge_step(step, call).element_ok
    wrong_on_page = judge_step(step, call, element_on_snapshot=False)
    assert not wrong_on_page.element_ok and wrong_on_page.element_method == "dom_snapshot"
    assert judge_step(step, predicted("click", selectors=[{"kind": "css", "selector": "#x"}]), True).step_ok


def test_selector_list_fallback_judges_the_top_selector_only() -> None:
    expected = step_of(example("click")).expected

    assert selector_list_match(expected, predicted("click", selectors=["form > input:nth-of-type(1)", "#x"]))
    assert not selector_list_match(expected, predicted("click", selectors=["#x", '[data-testid="email"]']))
    assert not selector_list_match(expected, predicted("click", selectors=[]))


def test_navigate_is_judged_by_its_url() -> None:
    step = step_of(example("navigate"))

    assert step.expected.url == "/cart.html"
    assert judge_step(step, predicted("navigate", url="/cart.html/")).step_ok
    verdict = judge_step(step, predicted("navigate", url="/checkout.html"))
    assert verdict.action_ok and not verdict.element_ok and verdict.element_method == "url"


def test_wrong_action_or_no_tool_call_fails_the_step() -> None:
    step = step_of(example("click"))

    select = judge_step(step, predicted("select", selectors=SELECTORS, value="x"))
    silent = judge_step(step, call_from_tool_calls([], "I would click the button"))
    broken = judge_step(step, call_from_tool_calls([("click", "{not json")]))

    assert not select.action_ok and select.element_ok and not select.step_ok
    assert silent.predicted_action is None and not silent.step_ok
    assert broken.action_ok is False and broken.element_ok is False
    assert call_from_tool_calls([], "hi").problem == "no tool call (said: 'hi')"
    assert call_from_tool_calls([("click", "[1]")]).problem == "the tool call's arguments are not a JSON object"


def test_score_breaks_metrics_down_by_page_type_and_action() -> None:
    steps = [step_of(example("click")), step_of(example("fill", "a")), step_of(example("click", path="product.html"))]
    calls = [
        predicted("click", selectors=SELECTORS),
        predicted("fill", selectors=SELECTORS, value="b"),
        predicted("fill", selectors=SELECTORS, value="a"),
    ]

    result = score("ft:m", steps, calls, [True, None, None])

    assert result.overall == Metrics(3, 2 / 3, 1.0, 1 / 3)
    breakdown = result.breakdown()
    assert breakdown["by_cell"]["checkout/click"]["step_success"] == 1.0
    assert breakdown["by_cell"]["checkout/fill"]["step_success"] == 0.0
    assert breakdown["by_cell"]["product/click"]["action_accuracy"] == 0.0
    assert breakdown["by_action"]["click"]["n_steps"] == 2
    assert set(breakdown["by_page_type"]) == {"checkout", "product"}
    check = result.element_check()
    assert check["counts"] == {"dom_snapshot": 1, "selector_list": 2} and check["fallback"] is True
    assert "no stored DOM snapshot" in check["notes"]["selector_list"]


def test_score_needs_as_many_predictions_as_steps() -> None:
    with pytest.raises(ValueError, match="as many"):
        score("m", [step_of(example())], [])


def test_no_steps_scores_zero() -> None:
    assert metrics([]) == Metrics(0, 0.0, 0.0, 0.0)


def test_eval_step_refuses_an_example_without_a_tool_call() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    with pytest.raises(ValueError, match="no tool call"):
        eval_step(body, "k", "shop")


@pytest.mark.parametrize(
    ("candidate", "base", "deployed", "deploy"),
    [
        (0.6, 0.1, None, True),
        (0.6, 0.1, 0.5, True),
        (0.6, 0.1, 0.6, False),  # a tie keeps what is serving
        (0.6, 0.7, None, False),
        (0.6, None, None, True),
    ],
)
def test_deploy_only_when_better_than_base_and_deployed(
    candidate: float, base: float | None, deployed: float | None, deploy: bool
) -> None:
    def m(value: float | None) -> Metrics | None:
        return None if value is None else Metrics(10, value, value, value)

    decision = deploy_decision(Metrics(10, 1.0, 1.0, candidate), m(base), m(deployed))

    assert decision.deploy is deploy
    assert "60%" in decision.reason


def test_no_held_out_steps_never_deploys() -> None:
    decision = deploy_decision(Metrics(0, 0.0, 0.0, 0.0), None, None)
    assert not decision.deploy and "no held-out steps" in decision.reason
