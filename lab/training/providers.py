"""Fine-tuning providers behind one small interface: OpenAI, Azure OpenAI, any compatible endpoint.

Each provider wraps an official `openai` async client and hands plain dataclasses inward. The
client's own retries are off (`max_retries=0`): one policy here retries transient failures
(429 honouring Retry-After, 408, 5xx, connection errors) with exponential backoff and jitter,
and records every retry in `provider.retries` so callers and tests can see them. Everything
else surfaces as a `ProviderError(code, message, param)`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import httpx
import openai
import structlog

from lab.training.azure_arm import ArmConfig, AzureDeployments, arm_config
from lab.training.finetune import Hyperparameters
from lab.training.provider_errors import ProviderError
from lab.training.retry import RetryPolicy, RetryRecord, retry_after_s, transient_reason

if TYPE_CHECKING:
    import httpx2

    from lab.config import Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class FileRef:
    id: str
    filename: str
    size_bytes: int
    purpose: str


@dataclass(frozen=True)
class JobRef:
    id: str
    model: str
    status: str


@dataclass(frozen=True)
class JobStatus:
    """A fine-tuning job as the provider reports it now; `error_*` are set when it failed."""

    id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_param: str | None = None
    trained_tokens: int | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    result_files: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class JobEvent:
    id: str
    created_at: int
    level: str
    message: str
    type: str = "message"


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass(frozen=True)
class ModelReply:
    """What a model answered: text, or tool calls (CodeSight's examples teach one tool call per step)."""

    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()

    def as_text(self) -> str:
        """The text answer, or the tool calls as JSON `[{"name": ..., "arguments": {...}}]`."""
        if not self.tool_calls:
            return self.content or ""
        return json.dumps([{"name": c.name, "arguments": _json_or_text(c.arguments)} for c in self.tool_calls])


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class FineTuneProvider(Protocol):
    """The one interface the trainer talks to, whichever provider is configured."""

    name: str
    retries: list[RetryRecord]

    async def upload(self, data: Path | bytes, purpose: str = "fine-tune", filename: str | None = None) -> FileRef: ...

    async def create_job(
        self,
        training_file: str,
        validation_file: str | None,
        model: str,
        hyperparameters: Hyperparameters | None = None,
        suffix: str | None = None,
        seed: int | None = None,
    ) -> JobRef: ...

    async def get_job(self, job_id: str) -> JobStatus: ...

    async def list_events(self, job_id: str, limit: int = 100) -> list[JobEvent]: ...

    async def cancel(self, job_id: str) -> JobStatus: ...

    async def respond(
        self, model: str, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> ModelReply: ...

    async def complete(
        self, model: str, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> str: ...

    async def ensure_deployment(self, model: str, name: str) -> str: ...

    def serving_target(self, model: str, name: str | None) -> str: ...

    async def remove_deployment(self, name: str) -> bool: ...

    async def aclose(self) -> None: ...


# --- the official-client implementation ------------------------------------------------------


def _job_status(job: Any) -> JobStatus:
    error = job.error
    hyper = job.hyperparameters.model_dump(exclude_none=True) if job.hyperparameters is not None else {}
    return JobStatus(
        id=job.id,
        status=job.status,
        model=job.model,
        fine_tuned_model=job.fine_tuned_model,
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        error_param=error.param if error else None,
        trained_tokens=job.trained_tokens,
        hyperparameters=hyper,
        result_files=tuple(job.result_files or ()),
    )


class ClientProvider:
    """Upload, jobs, events, cancel and completions over an official async client (OpenAI or Azure)."""

    name = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        self.retries: list[RetryRecord] = []
        self._sleep = sleep
        self._random = unit_random

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one API call, retrying transient failures; anything else becomes a ProviderError."""
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                return await call()
            except openai.APIError as exc:
                reason = transient_reason(exc)
                if reason is None or attempt == self.policy.max_attempts:
                    raise ProviderError.from_api(exc) from exc
                delay = self._delay(exc, attempt)
            self.retries.append(RetryRecord(operation, attempt, reason, delay))
            log.warning(
                "finetune.retry", provider=self.name, operation=operation, attempt=attempt, reason=reason, delay_s=delay
            )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _delay(self, exc: openai.APIError, attempt: int) -> float:
        """How long to wait before the next attempt; gives up when the server asks for longer than we wait."""
        if isinstance(exc, openai.APIStatusError):
            asked = retry_after_s(exc.response.headers)
            if asked is not None and asked > self.policy.max_retry_after_s:
                error = ProviderError.from_api(exc)
                error.message += f" (asked to retry after {asked:g} s, more than {self.policy.max_retry_after_s:g} s)"
                raise error from exc
            if asked is not None:
                return asked
        return self.policy.backoff_s(attempt - 1, self._random())

    async def upload(self, data: Path | bytes, purpose: str = "fine-tune", filename: str | None = None) -> FileRef:
        if isinstance(data, Path):
            filename = filename or data.name
            content = await asyncio.to_thread(data.read_bytes)
        else:
            content = data
        name = filename or "training.jsonl"
        created = await self._call(
            "upload", lambda: self.client.files.create(file=(name, content), purpose=cast(Any, purpose))
        )
        return FileRef(created.id, created.filename, created.bytes, created.purpose)

    async def create_job(
        self,
        training_file: str,
        validation_file: str | None,
        model: str,
        hyperparameters: Hyperparameters | None = None,
        suffix: str | None = None,
        seed: int | None = None,
    ) -> JobRef:
        options: dict[str, Any] = {}
        if validation_file:
            options["validation_file"] = validation_file
        if hyperparameters is not None:
            options["method"] = {"type": "supervised", "supervised": {"hyperparameters": hyperparameters.to_api()}}
        if suffix:
            options["suffix"] = suffix
        if seed is not None:
            options["seed"] = seed
        job = await self._call(
            "create_job",
            lambda: self.client.fine_tuning.jobs.create(model=model, training_file=training_file, **options),
        )
        log.info("finetune.job_created", provider=self.name, job_id=job.id, model=model, training_file=training_file)
        return JobRef(job.id, job.model, job.status)

    async def get_job(self, job_id: str) -> JobStatus:
        return _job_status(await self._call("get_job", lambda: self.client.fine_tuning.jobs.retrieve(job_id)))

    async def list_events(self, job_id: str, limit: int = 100) -> list[JobEvent]:
        """The job's latest `limit` events, oldest first."""

        async def first_page() -> Any:
            return await self.client.fine_tuning.jobs.list_events(job_id, limit=limit)

        page = await self._call("list_events", first_page)
        events = [JobEvent(e.id, e.created_at, e.level, e.message, e.type or "message") for e in page.data]
        return sorted(events, key=lambda e: (e.created_at, e.id))

    async def cancel(self, job_id: str) -> JobStatus:
        return _job_status(await self._call("cancel", lambda: self.client.fine_tuning.jobs.cancel(job_id)))

    async def respond(
        self, model: str, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> ModelReply:
        """Run `model` on one conversation (offering `tools`, if any); its answer, deterministic as can be."""
        options: dict[str, Any] = {"tools": list(tools), "parallel_tool_calls": False} if tools else {}
        completion = await self._call(
            "complete",
            lambda: self.client.chat.completions.create(
                model=self._chat_model(model), messages=cast(Any, list(messages)), temperature=0, **options
            ),
        )
        message = completion.choices[0].message
        calls = tuple(
            ToolCall(call.function.name, call.function.arguments)
            for call in message.tool_calls or ()
            if getattr(call, "function", None) is not None
        )
        return ModelReply(message.content, calls)

    async def complete(
        self, model: str, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> str:
        """Run `model` on one conversation; its answer as text (tool calls as JSON)."""
        return (await self.respond(model, messages, tools)).as_text()

    def _chat_model(self, model: str) -> str:
        return model

    async def ensure_deployment(self, model: str, name: str) -> str:
        """What `respond` must be given to run `model`, made callable first if the provider needs that
        (an Azure deployment called `name`); here the model itself."""
        return model

    def serving_target(self, model: str, name: str | None) -> str:
        """What to call for `model`, whose deployment `ensure_deployment` named `name` (None: never made)."""
        return model

    async def remove_deployment(self, name: str) -> bool:
        """Delete a deployment made by `ensure_deployment`; False when there was none (or nothing to delete)."""
        return False

    async def aclose(self) -> None:
        await self.client.close()


class OpenAIProvider(ClientProvider):
    """OpenAI's own fine-tuning API (`base_url` only to point it at a stand-in such as the local fake)."""

    name = "openai"

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        policy: RetryPolicy | None = None,
        *,
        http_client: httpx2.AsyncClient | None = None,
        **kwargs: Any,
    ) -> None:
        options: dict[str, Any] = {"base_url": base_url} if base_url else {}
        client = openai.AsyncOpenAI(api_key=api_key, max_retries=0, http_client=http_client, **options)
        super().__init__(client, policy, **kwargs)


class CompatibleProvider(ClientProvider):
    """Any endpoint that speaks OpenAI's files and fine-tuning API, by base URL (`.../v1`)."""

    name = "compatible"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        policy: RetryPolicy | None = None,
        *,
        http_client: httpx2.AsyncClient | None = None,
        **kwargs: Any,
    ) -> None:
        # Many compatible servers need no key, but the client insists on one.
        client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed", base_url=base_url, max_retries=0, http_client=http_client
        )
        super().__init__(client, policy, **kwargs)


class AzureOpenAIProvider(ClientProvider):
    """Azure OpenAI: the same files and fine-tuning API under `<endpoint>/openai/...?api-version=`;
    `complete` calls a deployment (of the fine-tuned model), not a model name.

    With ARM (`arm`), `ensure_deployment` creates one deployment per fine-tuned model and callers
    pass its name; without, every model is called through the one `deployment` made by hand (or,
    with none, through a deployment named after the model)."""

    name = "azure"

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        api_version: str,
        deployment: str | None = None,
        policy: RetryPolicy | None = None,
        *,
        arm: ArmConfig | None = None,
        http_client: httpx2.AsyncClient | None = None,
        arm_http_client: httpx.AsyncClient | None = None,
        **kwargs: Any,
    ) -> None:
        if not api_version:
            raise ProviderError(
                "missing_setting", "Azure OpenAI needs an API version (e.g. 2025-04-01-preview)", "api_version"
            )
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint, api_key=api_key, api_version=api_version, max_retries=0, http_client=http_client
        )
        super().__init__(client, policy, **kwargs)
        self.deployment = deployment
        self.arm = (
            AzureDeployments(
                arm,
                self.policy,
                retries=self.retries,
                http_client=arm_http_client,
                sleep=self._sleep,
                unit_random=self._random,
            )
            if arm is not None
            else None
        )

    def _chat_model(self, model: str) -> str:
        return model if self.arm is not None else self.deployment or model

    async def ensure_deployment(self, model: str, name: str) -> str:
        if self.arm is None:
            return model
        await self.arm.ensure(name, model)
        return name

    def serving_target(self, model: str, name: str | None) -> str:
        return name if self.arm is not None and name else model

    async def remove_deployment(self, name: str) -> bool:
        return await self.arm.delete(name) if self.arm is not None else False

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self.arm is not None:
                await self.arm.aclose()


def _required(settings: Settings, *names: str) -> None:
    missing = [name for name in names if not getattr(settings, name)]
    if missing:
        env = ", ".join(f"CODESIGHT_{name.upper()}" for name in missing)
        raise ProviderError(
            "missing_setting",
            f"fine-tuning with provider {settings.ft_provider!r} is disabled until {env} is set",
            f"CODESIGHT_{missing[0].upper()}",
        )


def provider_from_settings(settings: Settings) -> FineTuneProvider:
    """The provider `CODESIGHT_FT_PROVIDER` names, built from the settings it needs."""
    policy = RetryPolicy(max_attempts=settings.ft_max_attempts)
    if settings.ft_provider == "azure":
        _required(settings, "azure_endpoint", "azure_api_key", "azure_api_version")
        assert settings.azure_endpoint and settings.azure_api_key and settings.azure_api_version
        return AzureOpenAIProvider(
            settings.azure_endpoint,
            settings.azure_api_key,
            settings.azure_api_version,
            settings.azure_deployment,
            policy,
            arm=arm_config(settings),
        )
    if settings.ft_provider == "compatible":
        _required(settings, "openai_base_url")
        assert settings.openai_base_url
        return CompatibleProvider(settings.openai_base_url, settings.openai_api_key, policy)
    _required(settings, "openai_api_key")
    assert settings.openai_api_key
    return OpenAIProvider(settings.openai_api_key, settings.openai_base_url, policy)


async def wait_for_job(
    provider: FineTuneProvider, job_id: str, *, poll_interval_s: float = 10.0, timeout_s: float = 24 * 3600
) -> JobStatus:
    """Poll a job until it succeeds, fails or is cancelled; TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = await provider.get_job(job_id)
        if status.done:
            return status
        if time.monotonic() >= deadline:
            raise TimeoutError(f"fine-tuning job {job_id} still {status.status} after {timeout_s:g} s")
        await asyncio.sleep(poll_interval_s)
