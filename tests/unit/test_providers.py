"""Provider retries and errors, with the official client over an in-memory transport (httpx2.MockTransport)."""

from __future__ import annotations

import email.utils
import json
import os
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.config import Settings
from lab.training.finetune import Hyperparameters
from lab.training.providers import (
    AzureOpenAIProvider,
    CompatibleProvider,
    ModelReply,
    OpenAIProvider,
    ProviderError,
    ToolCall,
    provider_from_settings,
)
from lab.training.retry import RetryPolicy, retry_after_s, transient_reason

FILE = {"id": "file-1", "object": "file", "bytes": 3, "created_at": 1, "filename": "t.jsonl", "purpose": "fine-tune"}
JOB = {
    "id": "ftjob-1",
    "object": "fine_tuning.job",
    "created_at": 1,
    "model": "gpt-4o-2024-08-06",
    "organization_id": "org-x",
    "result_files": [],
    "seed": 1,
    "status": "failed",
    "training_file": "file-1",
    "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
    "error": {"code": "invalid_n_examples", "message": "Training file has 3 example(s)", "param": "training_file"},
}


class Recorder:
    """The transport's other end: answers requests from a script and remembers them."""

    def __init__(self, *responses: httpx2.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def error(status: int, code: str | None = None, headers: dict[str, str] | None = None, **extra: Any) -> httpx2.Response:
    body = {"error": {"message": f"failed with {status}", "type": "x", "param": extra.get("param"), "code": code}}
    return httpx2.Response(status, json=body, headers=headers)


def openai_provider(
    recorder: Recorder, policy: RetryPolicy | None = None, unit_random: Callable[[], float] = lambda: 0.5
) -> tuple[OpenAIProvider, RecordingSleep]:
    sleep = RecordingSleep()
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(recorder))
    provider = OpenAIProvider(
        "sk-test", "http://api.test/v1", policy, http_client=client, sleep=sleep, unit_random=unit_random
    )
    return provider, sleep


@pytest.fixture(autouse=True)
def no_codesight_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built here see only what each test passes, not the developer's CODESIGHT_* variables."""
    for name in [n for n in os.environ if n.startswith("CODESIGHT_")]:
        monkeypatch.delenv(name)


# --- pure parts -----------------------------------------------------------------------------------


def test_retry_after_reads_milliseconds_seconds_and_dates() -> None:
    assert retry_after_s({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert retry_after_s({"Retry-After": "2"}) == 2.0
    assert retry_after_s({"retry-after": "0.25"}) == 0.25
    now = 1_800_000_000.0
    assert retry_after_s({"Retry-After": email.utils.formatdate(now + 30, usegmt=True)}, now=now) == 30.0
    assert retry_after_s({"Retry-After": "soon"}) is None
    assert retry_after_s({}) is None


@given(retry=st.integers(0, 20), unit=st.floats(0, 1, exclude_max=True))
def test_backoff_grows_exponentially_with_jitter_under_a_cap(retry: int, unit: float) -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=30)
    ceiling = min(30.0, 0.5 * 2**retry)
    assert ceiling / 2 <= policy.backoff_s(retry, unit) <= ceiling


def _status_error(cls: type[openai.APIStatusError], status: int, code: str | None = None) -> openai.APIStatusError:
    response = httpx2.Response(status, request=httpx2.Request("GET", "http://api.test/v1/x"))
    return cls("failed", response=response, body={"code": code, "message": "failed"})


def test_which_failures_are_transient() -> None:
    request = httpx2.Request("GET", "http://api.test/v1/x")
    assert transient_reason(_status_error(openai.RateLimitError, 429)) == "429"
    assert transient_reason(_status_error(openai.InternalServerError, 503)) == "503"
    assert transient_reason(openai.APIConnectionError(request=request)) == "connection"
    assert transient_reason(openai.APITimeoutError(request=request)) == "timeout"
    assert transient_reason(_status_error(openai.RateLimitError, 429, "insufficient_quota")) is None
    assert transient_reason(_status_error(openai.BadRequestError, 400)) is None
    assert transient_reason(ValueError("ours")) is None


def test_a_model_reply_reads_as_text_or_as_tool_calls() -> None:
    assert ModelReply("hello").as_text() == "hello"
    reply = ModelReply(None, (ToolCall("click", '{"selectors": [{"kind": "id", "selector": "#a"}]}'),))
    assert json.loads(reply.as_text()) == [
        {"name": "click", "arguments": {"selectors": [{"kind": "id", "selector": "#a"}]}}
    ]
    assert json.loads(ModelReply(None, (ToolCall("click", "not json"),)).as_text())[0]["arguments"] == "not json"


# --- retries through the official client ----------------------------------------------------------


async def test_429_waits_as_told_then_5xx_backs_off_then_succeeds() -> None:
    recorder = Recorder(
        error(429, "rate_limit_exceeded", {"retry-after": "3"}),
        error(503),
        httpx2.Response(200, json=FILE),
    )
    provider, sleep = openai_provider(recorder, unit_random=lambda: 0.0)
    uploaded = await provider.upload(b"{}\n", filename="t.jsonl")
    assert uploaded.id == "file-1" and len(recorder.requests) == 3
    assert [(r.operation, r.attempt, r.reason) for r in provider.retries] == [
        ("upload", 1, "429"),
        ("upload", 2, "503"),
    ]
    assert sleep.delays == [3.0, 0.5]  # Retry-After, then half of 2 x 0.5 s with zero jitter


async def test_connection_errors_are_retried() -> None:
    recorder = Recorder(httpx2.ConnectError("refused"), httpx2.Response(200, json=JOB))
    provider, _ = openai_provider(recorder)
    status = await provider.get_job("ftjob-1")
    assert [r.reason for r in provider.retries] == ["connection"]
    assert status.status == "failed"
    assert (status.error_code, status.error_param) == ("invalid_n_examples", "training_file")
    assert status.hyperparameters == {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}


async def test_the_last_attempt_surfaces_the_error() -> None:
    recorder = Recorder(error(500), error(502), error(503))
    provider, sleep = openai_provider(recorder, RetryPolicy(max_attempts=3))
    with pytest.raises(ProviderError) as gave_up:
        await provider.cancel("ftjob-1")
    assert (gave_up.value.code, gave_up.value.status_code) == ("http_503", 503)
    assert len(sleep.delays) == 2


async def test_refusals_are_not_retried_and_keep_code_message_param() -> None:
    recorder = Recorder(error(400, "invalid_value", param="hyperparameters.n_epochs"))
    provider, sleep = openai_provider(recorder)
    with pytest.raises(ProviderError) as refused:
        await provider.create_job("file-1", None, "gpt-4o-2024-08-06", Hyperparameters(n_epochs=99))
    assert (refused.value.code, refused.value.message, refused.value.param) == (
        "invalid_value",
        "failed with 400",
        "hyperparameters.n_epochs",
    )
    assert str(refused.value) == "invalid_value: failed with 400 (param: hyperparameters.n_epochs)"
    assert sleep.delays == [] and provider.retries == []


async def test_no_quota_is_not_worth_waiting_for() -> None:
    provider, sleep = openai_provider(Recorder(error(429, "insufficient_quota")))
    with pytest.raises(ProviderError, match="insufficient_quota"):
        await provider.get_job("ftjob-1")
    assert sleep.delays == []


async def test_a_retry_after_longer_than_the_policy_allows_gives_up_at_once() -> None:
    provider, sleep = openai_provider(Recorder(error(429, "rate_limit_exceeded", {"retry-after": "3600"})))
    with pytest.raises(ProviderError) as gave_up:
        await provider.get_job("ftjob-1")
    assert "asked to retry after 3600 s" in gave_up.value.message
    assert sleep.delays == []


async def test_job_requests_carry_method_hyperparameters_suffix_and_seed() -> None:
    recorder = Recorder(httpx2.Response(200, json={**JOB, "status": "validating_files", "error": None}))
    provider, _ = openai_provider(recorder)
    job = await provider.create_job(
        "file-1", "file-2", "gpt-4o-2024-08-06", Hyperparameters(4, 2, 0.5), suffix="shop", seed=7
    )
    assert job.status == "validating_files"
    body = json.loads(recorder.requests[0].content)
    assert body == {
        "model": "gpt-4o-2024-08-06",
        "training_file": "file-1",
        "validation_file": "file-2",
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 4, "batch_size": 2, "learning_rate_multiplier": 0.5}},
        },
        "suffix": "shop",
        "seed": 7,
    }


async def test_azure_calls_its_deployment_with_the_api_version_and_key() -> None:
    completion = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
    }
    recorder = Recorder(httpx2.Response(200, json=completion))
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(recorder))
    provider = AzureOpenAIProvider(
        "https://shop.openai.azure.test", "azure-key", "2025-04-01-preview", "shop-agent", http_client=client
    )
    assert await provider.complete("ft:ignored", [{"role": "user", "content": "hello"}]) == "hi"
    request = recorder.requests[0]
    assert request.url.path == "/openai/deployments/shop-agent/chat/completions"
    assert request.url.params["api-version"] == "2025-04-01-preview"
    assert request.headers["api-key"] == "azure-key"


# --- settings -------------------------------------------------------------------------------------


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_settings_choose_the_provider() -> None:
    built = provider_from_settings(settings(ft_provider="compatible", openai_base_url="http://llm.test/v1"))
    assert isinstance(built, CompatibleProvider) and built.policy.max_attempts == 6
    built = provider_from_settings(settings(openai_api_key="sk", ft_max_attempts=2))
    assert isinstance(built, OpenAIProvider) and built.policy.max_attempts == 2


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"ft_provider": "openai"}, "CODESIGHT_OPENAI_API_KEY"),
        ({"ft_provider": "compatible"}, "CODESIGHT_OPENAI_BASE_URL"),
        ({"ft_provider": "azure", "azure_api_key": "k", "azure_api_version": "v"}, "CODESIGHT_AZURE_ENDPOINT"),
        ({"ft_provider": "azure", "azure_endpoint": "https://x", "azure_api_key": "k"}, "CODESIGHT_AZURE_API_VERSION"),
    ],
)
def test_missing_settings_say_which_variable_to_set(values: dict[str, Any], missing: str) -> None:
    with pytest.raises(ProviderError) as disabled:
        provider_from_settings(settings(**values))
    assert disabled.value.code == "missing_setting" and disabled.value.param == missing
    assert missing in disabled.value.message and "disabled" in disabled.value.message
