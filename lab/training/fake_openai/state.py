"""What the local OpenAI-compatible server knows: files, jobs that move on a clock, faults, deployments.

Plain Python behind the HTTP edge (`app.py`). Every figure it enforces comes from
`lab.training.limits` and `lab.training.validate`, so the fake refuses what our checks refuse:
uploads are format-checked against the flavour's (OpenAI's or Azure's) limits, jobs fail during
`validating_files` when the dataset breaks the model's limits (too few examples, images on a
text-only model, examples over the token limit); a job's status is a function of the clock
(`jobs.py`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openai.types import FileObject, Model
from openai.types.chat import ChatCompletion

from lab.training.fake_openai.arm import FakeArm
from lab.training.fake_openai.chat import answer, memorize
from lab.training.fake_openai.errors import ApiError, deployment_not_found, not_found
from lab.training.fake_openai.jobs import ORGANIZATION, FakeJob, Flavour, fine_tuned_name
from lab.training.finetune import default_batch_size, default_epochs, estimate_training
from lab.training.limits import base_model, check_dataset, limits_for, model_limits
from lab.training.tokens import estimate_tokens
from lab.training.validate import validate_jsonl_text

DEFAULT_PHASE_S = 2.0
# What the API reports for `learning_rate_multiplier: auto` on small jobs; any positive value would do.
AUTO_LEARNING_RATE_MULTIPLIER = 1.8
# Chat-only aliases the fake also answers as base models.
CHAT_MODELS = frozenset({"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"})


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def parse_jsonl(content: bytes) -> list[Any]:
    """The examples of a JSONL file that already passed upload validation."""
    return [json.loads(line) for line in content.decode("utf-8").split("\n") if line.strip()]


@dataclass
class StoredFile:
    id: str
    flavour: Flavour
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def to_api(self) -> dict[str, Any]:
        return FileObject(
            id=self.id,
            bytes=len(self.content),
            created_at=self.created_at,
            filename=self.filename,
            object="file",
            purpose=self.purpose,
            status="processed",
        ).model_dump(mode="json")


@dataclass(frozen=True)
class Fault:
    """One injected failure: the next request whose path starts with `path_prefix` gets `status`."""

    status: int
    retry_after_s: float | None = None
    path_prefix: str = ""


@dataclass(frozen=True)
class ServedFault:
    status: int
    method: str
    path: str


class FakeOpenAI:
    """The server's whole state; one instance per server, used from one event loop."""

    def __init__(
        self,
        *,
        phase_s: float = DEFAULT_PHASE_S,
        clock: Callable[[], float] = time.time,
        arm_token: str | None = None,
        provisioning_s: float | None = None,
    ) -> None:
        self.phase_s = phase_s
        self.clock = clock
        # Azure's control plane: deployments that provision for `provisioning_s` (one phase by default).
        self.arm = FakeArm(clock, phase_s if provisioning_s is None else provisioning_s, arm_token)
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.deployments: dict[str, str] = {}
        self.pending_faults: deque[Fault] = deque()
        self.served_faults: list[ServedFault] = []

    # --- faults ---------------------------------------------------------------------------

    def inject(self, status: int, count: int = 1, retry_after_s: float | None = None, path_prefix: str = "") -> None:
        """Make the next `count` matching requests fail with `status` (429 carries Retry-After)."""
        self.pending_faults.extend(Fault(status, retry_after_s, path_prefix) for _ in range(count))

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault this request gets, if any; control paths (`/_fake`) never fail."""
        if path.startswith("/_fake"):
            return None
        for fault in self.pending_faults:
            if path.startswith(fault.path_prefix):
                self.pending_faults.remove(fault)
                self.served_faults.append(ServedFault(fault.status, method, path))
                return fault
        return None

    # --- files ----------------------------------------------------------------------------

    def upload(self, flavour: Flavour, filename: str, purpose: str, content: bytes) -> StoredFile:
        """Store a file; fine-tuning files are checked as the API checks them, or refused with a 400."""
        if purpose == "fine-tune":
            self._check_training_upload(flavour, filename, content)
        stored = StoredFile(_new_id("file"), flavour, filename, purpose, content, int(self.clock()))
        self.files[stored.id] = stored
        return stored

    @staticmethod
    def _check_training_upload(flavour: Flavour, filename: str, content: bytes) -> None:
        limits = limits_for(flavour)
        if not filename.endswith(".jsonl"):
            raise ApiError(400, "Invalid file format for Fine-Tuning API. Must be .jsonl", param="file")
        if len(content) > limits.max_file_bytes:
            raise ApiError(
                400,
                f"File is {len(content)} bytes; fine-tuning files may be at most {limits.max_file_bytes} bytes",
                param="file",
                code="file_too_large",
            )
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, f"File is not UTF-8 text (byte {exc.start})", param="file") from exc
        report = validate_jsonl_text(text, limits)
        if report.example_count == 0:
            raise ApiError(400, "Invalid file format for Fine-Tuning API: the file is empty", param="file")
        if not report.ok:
            counts = ", ".join(f"{key}: {count}" for key, count in sorted(report.error_counts.items()))
            first = report.invalid[0]
            raise ApiError(
                400,
                f"Invalid file format for Fine-Tuning API: {report.invalid_count} of {report.example_count} "
                f"examples are invalid ({counts}); line {first.line}: {first.errors[0]}",
                param="file",
                code="invalid_file_format",
            )

    def file(self, flavour: Flavour, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None or stored.flavour != flavour:
            raise not_found("file", file_id)
        return stored

    # --- jobs -----------------------------------------------------------------------------

    def _training_file(self, flavour: Flavour, file_id: str, param: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None or stored.flavour != flavour:
            raise ApiError(400, f"Invalid file ID '{file_id}': no such file", param=param, code="file_not_found")
        if stored.purpose != "fine-tune":
            raise ApiError(
                400, f"File {file_id} has purpose '{stored.purpose}', not 'fine-tune'", param=param, code="invalid_file"
            )
        return stored

    def _can_fine_tune(self, flavour: Flavour, model: str) -> bool:
        if model_limits(flavour, model) is None:
            return False
        return model == base_model(model) or any(
            job.fine_tuned_model == model and job.status_at(self.clock()) == "succeeded" for job in self.jobs.values()
        )

    def create_job(
        self,
        flavour: Flavour,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        seed: int | None = None,
    ) -> FakeJob:
        """Accept a job (400 for a bad request); whether it will succeed is decided now and shown later."""
        if not self._can_fine_tune(flavour, model):
            raise ApiError(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        training = parse_jsonl(self._training_file(flavour, training_file, "training_file").content)
        validation = (
            parse_jsonl(self._training_file(flavour, validation_file, "validation_file").content)
            if validation_file
            else []
        )
        problems = check_dataset(training, flavour, model)
        if validation_file:
            problems += check_dataset(validation, flavour, model, param="validation_file")
        resolved = self._resolve(hyperparameters or {}, len(training))
        job_id = _new_id("ftjob")
        row = model_limits(flavour, model)
        assert row is not None, "checked by _can_fine_tune"
        estimate = estimate_training(training, resolved["n_epochs"], row.max_tokens_per_example, model)
        job = FakeJob(
            id=job_id,
            flavour=flavour,
            model=model,
            training_file=training_file,
            validation_file=validation_file,
            hyperparameters=resolved,
            suffix=suffix,
            seed=seed if seed is not None else int(job_id[6:14], 16),
            created_at=self.clock(),
            phase_s=self.phase_s,
            n_examples=len(training),
            problems=tuple(problems),
            trained_tokens=estimate.billed_tokens,
            fine_tuned_model=fine_tuned_name(flavour, model, job_id, suffix),
            memory=memorize([*training, *validation]),
        )
        self.jobs[job.id] = job
        return job

    @staticmethod
    def _resolve(requested: Mapping[str, Any], n_examples: int) -> dict[str, Any]:
        """`auto` hyperparameters replaced by what the API would choose for this dataset."""
        n = max(1, n_examples)
        epochs = requested.get("n_epochs", "auto")
        batch = requested.get("batch_size", "auto")
        rate = requested.get("learning_rate_multiplier", "auto")
        return {
            "n_epochs": default_epochs(n) if epochs in (None, "auto") else int(epochs),
            "batch_size": default_batch_size(n) if batch in (None, "auto") else int(batch),
            "learning_rate_multiplier": AUTO_LEARNING_RATE_MULTIPLIER if rate in (None, "auto") else float(rate),
        }

    def job(self, flavour: Flavour, job_id: str) -> FakeJob:
        job = self.jobs.get(job_id)
        if job is None or job.flavour != flavour:
            raise not_found("fine-tuning job", job_id)
        return job

    def job_view(self, job: FakeJob) -> dict[str, Any]:
        """The job as the API returns it now; a succeeded job gets its result file on first sight."""
        now = self.clock()
        if job.status_at(now) == "succeeded" and job.result_file is None:
            job.result_file = self._result_file(job).id
        return job.to_api(now)

    def _result_file(self, job: FakeJob) -> StoredFile:
        metrics = [e.data for e in job.events_at(self.clock()) if e.type == "metrics" and isinstance(e.data, dict)]
        rows = ["step,train_loss,train_accuracy"]
        rows += [f"{m['step']},{m['train_loss']},{min(1.0, 0.6 + 0.1 * i):.2f}" for i, m in enumerate(metrics)]
        content = ("\n".join(rows) + "\n").encode()
        stored = StoredFile(
            _new_id("file"), job.flavour, "step_metrics.csv", "fine-tune-results", content, int(self.clock())
        )
        self.files[stored.id] = stored
        return stored

    def list_jobs(self, flavour: Flavour, after: str | None, limit: int) -> dict[str, Any]:
        jobs = sorted((j for j in self.jobs.values() if j.flavour == flavour), key=lambda j: j.created_at, reverse=True)
        return _page([self.job_view(j) for j in jobs], after, limit)

    def list_events(self, flavour: Flavour, job_id: str, after: str | None, limit: int) -> dict[str, Any]:
        events = list(reversed(self.job(flavour, job_id).events_at(self.clock())))
        return _page([e.model_dump(mode="json") for e in events], after, limit)

    def cancel(self, flavour: Flavour, job_id: str) -> FakeJob:
        job = self.job(flavour, job_id)
        status = job.status_at(self.clock())
        if status in ("succeeded", "failed", "cancelled"):
            raise ApiError(
                400, f"Job {job_id} has already {status} and cannot be cancelled", param="fine_tuning_job_id"
            )
        job.cancelled_at = self.clock()
        return job

    # --- models and chat ------------------------------------------------------------------

    def _fine_tuned(self, flavour: Flavour) -> dict[str, FakeJob]:
        now = self.clock()
        return {
            job.fine_tuned_model: job
            for job in self.jobs.values()
            if job.flavour == flavour and job.status_at(now) == "succeeded"
        }

    def models(self, flavour: Flavour) -> dict[str, Any]:
        created = int(self.clock())
        rows = [
            Model(id=name, created=created, object="model", owned_by="system") for name in limits_for(flavour).models
        ]
        rows += [
            Model(id=name, created=int(job.finished_at), object="model", owned_by=ORGANIZATION)
            for name, job in self._fine_tuned(flavour).items()
        ]
        return {"object": "list", "data": [m.model_dump(mode="json") for m in rows]}

    def deploy(self, name: str, model: str) -> None:
        """An Azure deployment: chat requests to `name` run `model`."""
        self.deployments[name] = model

    def is_fine_tuned(self, flavour: Flavour, model: str) -> bool:
        """Whether `model` is a fine-tuned model this server trained (its job succeeded)."""
        return model in self._fine_tuned(flavour)

    def deployment_model(self, deployment: str) -> str:
        """The model an Azure deployment runs: one made over ARM (once provisioned), one made with
        `/_fake/deployments`, or a model named like the deployment."""
        made = self.arm.serving(deployment)
        if made is not None:
            return made.model
        model = self.deployments.get(deployment, deployment)
        # A fine-tuned model answers only through a deployment made for it; a base model also by its name.
        fine_tuned = deployment in self.deployments and model in self._fine_tuned("azure")
        base = model == base_model(model) and (model_limits("azure", model) is not None or model in CHAT_MODELS)
        if not (fine_tuned or base):
            raise deployment_not_found()
        return model

    def complete(
        self,
        flavour: Flavour,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A chat completion with the fake model's deterministic answer (text, tool calls, or
        structured output when `response_format` asks for a JSON schema)."""
        fine_tuned = self._fine_tuned(flavour)
        known = model in fine_tuned or model in CHAT_MODELS or model_limits(flavour, model) is not None
        if not known:
            raise ApiError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        job = fine_tuned.get(model)
        reply = answer(messages, tools, job.memory if job else None, response_format)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = list(reply.tool_calls)
        prompt_tokens = estimate_tokens({"messages": list(messages), "tools": list(tools or ())}, model)
        completion_tokens = estimate_tokens({"messages": [message]}, model)
        return ChatCompletion.model_validate(
            {
                "id": _new_id("chatcmpl"),
                "object": "chat.completion",
                "created": int(self.clock()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                        "logprobs": None,
                        "message": message,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        ).model_dump(mode="json")


def _page(rows: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """OpenAI's cursor pagination: the `limit` rows after the row whose id is `after`."""
    start = 0
    if after:
        ids = [row["id"] for row in rows]
        start = ids.index(after) + 1 if after in ids else len(rows)
    window = rows[start : start + limit]
    return {"object": "list", "data": window, "has_more": start + limit < len(rows)}
