"""One training file checked as the cookbook's data-preparation notebook does, for a provider and model.

Format errors counted per key (`validate`), then, over the examples that pass, the provider's limits
(example count, tokens per example, images on a text-only model, file size: `limits.check_dataset`),
token statistics and the epoch / billed-token estimate. `codesight validate` prints `render()`.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

from lab.training.finetune import FALLBACK_MAX_TOKENS_PER_EXAMPLE, TrainingEstimate, default_epochs, estimate_training
from lab.training.limits import LimitProblem, check_dataset, limits_for, model_limits
from lab.training.tokens import estimate_tokens
from lab.training.validate import ValidationReport, validate_jsonl_text


@dataclass(frozen=True)
class FileCheck:
    """Everything a provider would say about one JSONL file before training on it."""

    provider: str
    model: str
    report: ValidationReport
    problems: tuple[LimitProblem, ...]
    example_tokens: tuple[int, ...]
    estimate: TrainingEstimate | None

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.problems

    def render(self) -> str:
        """Plain text for people: format errors by key, limit problems, tokens and the billing estimate."""
        lines = [f"checked for {self.provider} / {self.model}", self.report.render()]
        if self.problems:
            lines.append("the provider would refuse this file:")
            lines += [f"  {problem.code}: {problem.message}" for problem in self.problems]
        if self.example_tokens and self.estimate is not None:
            counts = self.example_tokens
            lines.append(
                f"tokens per valid example: min {min(counts)}, median {round(statistics.median(counts))}, "
                f"max {max(counts)} ({self.estimate.counted_with})"
            )
            lines.append(
                f"estimate: {self.estimate.tokens_per_epoch:,} tokens per epoch x {self.estimate.n_epochs} epochs "
                f"= {self.estimate.billed_tokens:,} billed tokens"
            )
        return "\n".join(lines)


def _valid_examples(text: str, report: ValidationReport) -> list[Any]:
    invalid = {example.line for example in report.invalid}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [json.loads(line) for number, line in enumerate(lines, start=1) if number not in invalid]


def check_file(text: str, provider: str, model: str) -> FileCheck:
    """Check a JSONL file's text against `provider`'s limits for `model` (ValueError for an unknown provider)."""
    report = validate_jsonl_text(text, limits_for(provider))
    examples = _valid_examples(text, report)
    problems = tuple(check_dataset(examples, provider, model, size_bytes=len(text.encode())))
    row = model_limits(provider, model)
    estimate = (
        estimate_training(
            examples,
            default_epochs(len(examples)),
            row.max_tokens_per_example if row else FALLBACK_MAX_TOKENS_PER_EXAMPLE,
            model,
        )
        if examples
        else None
    )
    tokens = tuple(estimate_tokens(example, model) for example in examples)
    return FileCheck(provider, model, report, problems, tokens, estimate)
