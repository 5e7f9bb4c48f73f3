"""A fine-tuning job of the fake server: its timeline, events and API view, all functions of the clock.

Phases of `phase_s` seconds: validating_files (1) -> queued (1) -> running (RUNNING_PHASES) ->
succeeded; failed right after validation when the dataset breaks the model's limits; cancelled
whenever `cancel` came first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

from lab.training.fake_openai.chat import Reply
from lab.training.limits import LimitProblem, base_model

Flavour = Literal["openai", "azure"]
RUNNING_PHASES = 2
METRIC_EVENTS = 3
ORGANIZATION = "codesight"


@dataclass(frozen=True)
class _Event:
    at: float
    level: str
    message: str
    type: str = "message"
    data: Mapping[str, Any] | None = None


@dataclass
class FakeJob:
    id: str
    flavour: Flavour
    model: str
    training_file: str
    validation_file: str | None
    hyperparameters: dict[str, Any]
    suffix: str | None
    seed: int
    created_at: float
    phase_s: float
    n_examples: int
    problems: tuple[LimitProblem, ...]
    trained_tokens: int
    fine_tuned_model: str
    memory: dict[str, Reply] = field(default_factory=dict)
    cancelled_at: float | None = None
    result_file: str | None = None

    @property
    def validated_at(self) -> float:
        return self.created_at + self.phase_s

    @property
    def started_at(self) -> float:
        return self.created_at + 2 * self.phase_s

    @property
    def finished_at(self) -> float:
        return self.validated_at if self.problems else self.started_at + RUNNING_PHASES * self.phase_s

    def status_at(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        if now < self.validated_at:
            return "validating_files"
        if self.problems:
            return "failed"
        if now < self.started_at:
            return "queued"
        return "running" if now < self.finished_at else "succeeded"

    def _timeline(self) -> list[_Event]:
        files = f"Validating training file: {self.training_file}"
        if self.validation_file:
            files += f" and validation file: {self.validation_file}"
        events = [
            _Event(self.created_at, "info", f"Created fine-tuning job: {self.id}"),
            _Event(self.created_at, "info", files),
        ]
        if self.problems:
            events += [_Event(self.validated_at, "error", problem.message) for problem in self.problems]
            events.append(_Event(self.validated_at, "error", "The job failed due to an invalid training file."))
            return events
        events.append(_Event(self.validated_at, "info", "Files validated, moving job to queued state"))
        events.append(
            _Event(self.started_at, "info", f"Fine-tuning job started: {self.trained_tokens} tokens to train")
        )
        batch = int(self.hyperparameters["batch_size"])
        total_steps = math.ceil(self.n_examples / batch) * int(self.hyperparameters["n_epochs"])
        for k in range(1, METRIC_EVENTS + 1):
            share = k / (METRIC_EVENTS + 1)
            step = max(1, round(total_steps * share))
            loss = round(1.5 * 0.6**k, 4)
            events.append(
                _Event(
                    self.started_at + share * (self.finished_at - self.started_at),
                    "info",
                    f"Step {step}/{total_steps}: training loss={loss:.4f}",
                    "metrics",
                    {"step": step, "train_loss": loss, "total_steps": total_steps},
                )
            )
        events.append(_Event(self.finished_at, "info", f"New fine-tuned model created: {self.fine_tuned_model}"))
        events.append(_Event(self.finished_at, "info", "The job has successfully completed"))
        return events

    def events_at(self, now: float) -> list[FineTuningJobEvent]:
        """Events that have happened by `now`, oldest first."""
        cutoff = now if self.cancelled_at is None else min(now, self.cancelled_at)
        visible = [e for e in self._timeline() if e.at <= cutoff]
        if self.cancelled_at is not None:
            visible.append(_Event(self.cancelled_at, "info", "Fine-tuning job cancelled"))
        short = self.id.removeprefix("ftjob-")
        return [
            FineTuningJobEvent(
                id=f"ftevent-{short}{index:03d}",
                created_at=int(event.at),
                level=event.level,
                message=event.message,
                object="fine_tuning.job.event",
                type=event.type,
                data=dict(event.data) if event.data else None,
            )
            for index, event in enumerate(visible)
        ]

    def to_api(self, now: float) -> dict[str, Any]:
        status = self.status_at(now)
        failed = status == "failed"
        done = status in ("succeeded", "failed")
        first = self.problems[0] if failed else None
        return FineTuningJob.model_validate(
            {
                "id": self.id,
                "object": "fine_tuning.job",
                "created_at": int(self.created_at),
                "error": {"code": first.code, "message": first.message, "param": first.param} if first else None,
                "fine_tuned_model": self.fine_tuned_model if status == "succeeded" else None,
                "finished_at": int(self.finished_at) if done else None,
                "hyperparameters": self.hyperparameters,
                "method": {"type": "supervised", "supervised": {"hyperparameters": self.hyperparameters}},
                "model": self.model,
                "organization_id": f"org-{ORGANIZATION}",
                "result_files": [self.result_file] if status == "succeeded" and self.result_file else [],
                "seed": self.seed,
                "status": status,
                "trained_tokens": self.trained_tokens if status == "succeeded" else None,
                "training_file": self.training_file,
                "validation_file": self.validation_file,
                "estimated_finish": int(self.finished_at) if status in ("queued", "running") else None,
                "user_provided_suffix": self.suffix,
            }
        ).model_dump(mode="json")


def fine_tuned_name(flavour: Flavour, model: str, job_id: str, suffix: str | None) -> str:
    short = job_id.removeprefix("ftjob-")
    if flavour == "azure":
        # Azure names fine-tunes `<base>.ft-<job>[-<suffix>]`.
        return f"{base_model(model)}.ft-{short}" + (f"-{suffix}" if suffix else "")
    return f"ft:{base_model(model)}:{ORGANIZATION}:{suffix or ''}:{short[:8]}"
