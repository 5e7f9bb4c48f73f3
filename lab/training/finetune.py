"""A site's fine-tuning plan: hyperparameters from its dataset size and earlier runs, and the bill.

Pure functions over plain data; the trainer UI shows a `JobPlan` (editable) before a job starts.

Epochs start from OpenAI's own `auto` default, which the data-preparation cookbook reproduces
(https://cookbook.openai.com/examples/chat_finetuning_data_prep): aim at 3 epochs, but make small
sets see at least ~100 examples in total and large ones at most ~25,000, within 1..25 epochs.
Earlier runs of the same site then move that by one epoch, as OpenAI's guide advises
(https://developers.openai.com/api/docs/guides/supervised-fine-tuning, "Iterating on
hyperparameters"): more when the model did not follow the training data, fewer when it lost
diversity (overfit), a higher learning rate when it did not converge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from lab.training.limits import LimitProblem, ProviderStatus, check_dataset, model_limits, provider_status
from lab.training.tokens import DEFAULT_MODEL, estimate_tokens, token_counting

# OpenAI's default-epoch heuristic (cookbook constants of the same names).
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
# n_epochs the API accepts (https://developers.openai.com/api/reference/resources/fine_tuning).
MAX_API_EPOCHS = 50
# Default batch size: ~0.2% of the training examples, capped at 256 (OpenAI's fine-tunes API reference,
# https://platform.openai.com/docs/api-reference/fine-tunes/create#batch_size).
BATCH_SHARE = 0.002
MAX_BATCH_SIZE = 256
# Our choice, not a published figure: double the multiplier after a run that did not converge, up to 2.
LEARNING_RATE_STEP = 2.0
MAX_LEARNING_RATE_MULTIPLIER = 2.0
# Tokens per example the cookbook bills when the model is not in our table (gpt-3.5-turbo's context).
FALLBACK_MAX_TOKENS_PER_EXAMPLE = 16_385

Auto = Literal["auto"]
# How a finished run went, as evaluation judges it:
#   good           - keep what worked
#   underfit       - the model does not follow the training data as much as expected
#   overfit        - the model became less diverse / held-out accuracy well below training accuracy
#   not_converging - training loss did not go down
#   failed         - the job failed; says nothing about hyperparameters
RunOutcome = Literal["good", "underfit", "overfit", "not_converging", "failed"]


@dataclass(frozen=True)
class Hyperparameters:
    """What a fine-tuning job is created with; `auto` lets the provider choose."""

    n_epochs: int | Auto = "auto"
    batch_size: int | Auto = "auto"
    learning_rate_multiplier: float | Auto = "auto"

    def to_api(self) -> dict[str, Any]:
        return {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }


@dataclass(frozen=True)
class PreviousRun:
    """An earlier job of the same site, with the hyperparameters the provider actually used."""

    n_examples: int
    n_epochs: int
    outcome: RunOutcome
    learning_rate_multiplier: float | None = None


@dataclass(frozen=True)
class HyperparameterChoice:
    hyperparameters: Hyperparameters
    reasons: tuple[str, ...]


def default_epochs(n_examples: int) -> int:
    """OpenAI's `auto` epochs for a training set of `n_examples`."""
    if n_examples < 1:
        raise ValueError("n_examples: a training set needs at least one example")
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def default_batch_size(n_examples: int) -> int:
    """~0.2% of the training examples, at least 1, at most 256."""
    return max(1, min(MAX_BATCH_SIZE, round(n_examples * BATCH_SHARE)))


_EPOCH_STEP: dict[str, int] = {"underfit": 1, "overfit": -1, "good": 0, "not_converging": 0}


def choose_hyperparameters(n_examples: int, previous: Sequence[PreviousRun] = ()) -> HyperparameterChoice:
    """Hyperparameters for a site's next job; `previous` holds its earlier runs, oldest first.

    The latest run that did not fail carries its offset from its own default epochs over to the
    new dataset size, plus one step in the direction its outcome asks for.
    """
    epochs = default_epochs(n_examples)
    reasons = [f"{epochs} epochs: OpenAI's default for {n_examples} examples"]
    learning_rate: float | Auto = "auto"
    last = next((run for run in reversed(previous) if run.outcome != "failed"), None)
    if last is not None:
        offset = last.n_epochs - default_epochs(last.n_examples)
        step = _EPOCH_STEP[last.outcome]
        if offset or step:
            epochs = max(1, min(MAX_API_EPOCHS, epochs + offset + step))
            reasons.append(
                f"{epochs} epochs: the last run used {last.n_epochs} epochs on {last.n_examples} examples "
                f"and was {last.outcome.replace('_', ' ')}"
            )
        if last.outcome == "not_converging" and last.learning_rate_multiplier is not None:
            learning_rate = min(MAX_LEARNING_RATE_MULTIPLIER, last.learning_rate_multiplier * LEARNING_RATE_STEP)
            reasons.append(
                f"learning rate multiplier {learning_rate:g}: the last run ({last.learning_rate_multiplier:g}) "
                "did not converge"
            )
        elif last.outcome != "not_converging" and last.learning_rate_multiplier is not None:
            learning_rate = last.learning_rate_multiplier
    batch_size = default_batch_size(n_examples)
    reasons.append(f"batch size {batch_size}: ~0.2% of the examples")
    return HyperparameterChoice(Hyperparameters(epochs, batch_size, learning_rate), tuple(reasons))


@dataclass(frozen=True)
class TrainingEstimate:
    """What a job will be billed for: tokens per epoch (each example capped at the model's limit) x epochs."""

    n_examples: int
    n_epochs: int
    tokens_per_epoch: int
    billed_tokens: int
    examples_over_limit: int
    max_tokens_per_example: int
    # How tokens were counted (tiktoken's encoding, or the approximation and why), for people.
    counted_with: str = ""


def estimate_training(
    examples: Sequence[Any],
    n_epochs: int,
    max_tokens_per_example: int = FALLBACK_MAX_TOKENS_PER_EXAMPLE,
    model: str = DEFAULT_MODEL,
) -> TrainingEstimate:
    """The cookbook's billing estimate: sum(min(limit, tokens)) over examples, times epochs."""
    lengths = [estimate_tokens(example, model) for example in examples]
    per_epoch = sum(min(max_tokens_per_example, n) for n in lengths)
    return TrainingEstimate(
        n_examples=len(lengths),
        n_epochs=n_epochs,
        tokens_per_epoch=per_epoch,
        billed_tokens=per_epoch * n_epochs,
        examples_over_limit=sum(n > max_tokens_per_example for n in lengths),
        max_tokens_per_example=max_tokens_per_example,
        counted_with=token_counting(model).note,
    )


@dataclass(frozen=True)
class JobPlan:
    """Everything the trainer sees before pressing start."""

    provider: str
    model: str
    choice: HyperparameterChoice
    estimate: TrainingEstimate
    status: ProviderStatus
    problems: tuple[LimitProblem, ...] = field(default_factory=tuple)

    @property
    def can_start(self) -> bool:
        return self.status.accepts_new_jobs and not self.problems


def plan_job(
    examples: Sequence[Any],
    provider: str,
    model: str,
    today: date,
    previous: Sequence[PreviousRun] = (),
) -> JobPlan:
    """Hyperparameters, billing estimate, provider status and limit problems for one site's dataset."""
    choice = choose_hyperparameters(max(1, len(examples)), previous)
    row = model_limits(provider, model)
    epochs = choice.hyperparameters.n_epochs
    estimate = estimate_training(
        examples,
        epochs if isinstance(epochs, int) else default_epochs(max(1, len(examples))),
        row.max_tokens_per_example if row else FALLBACK_MAX_TOKENS_PER_EXAMPLE,
        model,
    )
    return JobPlan(
        provider=provider,
        model=model,
        choice=choice,
        estimate=estimate,
        status=provider_status(provider, today, model),
        problems=tuple(check_dataset(examples, provider, model)),
    )
