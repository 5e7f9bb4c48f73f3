"""Per-site hyperparameters from dataset size and earlier runs, and the billed-token estimate."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.training.finetune import (
    Hyperparameters,
    PreviousRun,
    choose_hyperparameters,
    default_batch_size,
    default_epochs,
    estimate_training,
    plan_job,
)
from lab.training.tokens import estimate_tokens


def example(chars: int = 400) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "x" * chars}, {"role": "assistant", "content": "ok"}]}


@pytest.mark.parametrize(
    ("n_examples", "epochs"),
    [(1, 25), (3, 25), (10, 10), (20, 5), (33, 3), (34, 3), (1000, 3), (8333, 3), (8334, 2), (25_000, 1), (10**6, 1)],
)
def test_default_epochs_follow_openais_auto_rule(n_examples: int, epochs: int) -> None:
    assert default_epochs(n_examples) == epochs


@given(n=st.integers(1, 10**7))
def test_default_epochs_stay_in_range_and_see_enough_examples(n: int) -> None:
    epochs = default_epochs(n)
    assert 1 <= epochs <= 25
    if 34 <= n <= 8333:
        assert epochs == 3
    if n <= 4:
        assert epochs == 25
    elif n < 34:
        assert n * epochs >= 100 - n  # small sets are shown ~100 examples in total


def test_default_epochs_need_examples() -> None:
    with pytest.raises(ValueError, match="n_examples"):
        default_epochs(0)


def test_batch_size_is_a_small_share_of_the_set() -> None:
    assert [default_batch_size(n) for n in (10, 500, 5000, 200_000)] == [1, 1, 10, 256]


def test_first_run_of_a_site_uses_the_defaults() -> None:
    choice = choose_hyperparameters(20)
    assert choice.hyperparameters == Hyperparameters(n_epochs=5, batch_size=1, learning_rate_multiplier="auto")
    assert choice.reasons[0] == "5 epochs: OpenAI's default for 20 examples"
    assert choice.hyperparameters.to_api() == {"n_epochs": 5, "batch_size": 1, "learning_rate_multiplier": "auto"}


def test_an_underfit_run_adds_an_epoch_an_overfit_run_removes_one() -> None:
    underfit = choose_hyperparameters(200, [PreviousRun(n_examples=100, n_epochs=3, outcome="underfit")])
    assert underfit.hyperparameters.n_epochs == 4
    assert "was underfit" in underfit.reasons[1]
    overfit = choose_hyperparameters(200, [PreviousRun(n_examples=100, n_epochs=3, outcome="overfit")])
    assert overfit.hyperparameters.n_epochs == 2


def test_adjustments_carry_over_to_a_new_dataset_size() -> None:
    # The site needed one epoch more than the default at 20 examples (5 -> 6) and was still underfit:
    # at 50 examples the default is 3, so 3 + 1 + 1.
    runs = [PreviousRun(n_examples=20, n_epochs=6, outcome="underfit")]
    assert choose_hyperparameters(50, runs).hyperparameters.n_epochs == 5


def test_the_latest_run_that_did_not_fail_decides() -> None:
    runs = [
        PreviousRun(n_examples=100, n_epochs=3, outcome="overfit"),
        PreviousRun(n_examples=100, n_epochs=9, outcome="failed"),
    ]
    assert choose_hyperparameters(100, runs).hyperparameters.n_epochs == 2


def test_a_run_that_did_not_converge_doubles_the_learning_rate() -> None:
    runs = [PreviousRun(n_examples=100, n_epochs=3, outcome="not_converging", learning_rate_multiplier=0.4)]
    choice = choose_hyperparameters(100, runs)
    assert choice.hyperparameters.learning_rate_multiplier == 0.8
    assert choice.hyperparameters.n_epochs == 3
    kept = choose_hyperparameters(100, [PreviousRun(100, 3, "good", learning_rate_multiplier=0.4)])
    assert kept.hyperparameters.learning_rate_multiplier == 0.4


def test_epochs_never_leave_the_apis_range() -> None:
    assert choose_hyperparameters(1000, [PreviousRun(1000, 1, "overfit")]).hyperparameters.n_epochs == 1
    assert choose_hyperparameters(1, [PreviousRun(1, 50, "underfit")]).hyperparameters.n_epochs == 50


def test_billed_tokens_are_capped_tokens_times_epochs() -> None:
    rows = [example(400), example(400), example(200_000)]  # 25,000 tokens: over the limit
    estimate = estimate_training(rows, n_epochs=3, max_tokens_per_example=16_385)
    per_example = [estimate_tokens(r) for r in rows]
    assert estimate.tokens_per_epoch == per_example[0] + per_example[1] + 16_385
    assert estimate.billed_tokens == 3 * estimate.tokens_per_epoch
    assert estimate.examples_over_limit == 1


def test_a_plan_shows_hyperparameters_cost_status_and_problems() -> None:
    plan = plan_job([example()] * 12, "openai", "gpt-4o-mini-2024-07-18", date(2026, 11, 26))
    assert plan.choice.hyperparameters.n_epochs == 8
    assert plan.estimate.billed_tokens == 8 * 12 * estimate_tokens(example())
    assert plan.status.accepts_new_jobs and plan.status.warning
    assert plan.problems == () and plan.can_start
    late = plan_job([example()] * 5, "openai", "gpt-4o-mini-2024-07-18", date(2027, 2, 1))
    assert not late.can_start
    assert [p.code for p in late.problems] == ["invalid_n_examples"]
