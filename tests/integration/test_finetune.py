"""Each fine-tuning provider (OpenAI, Azure OpenAI, compatible) end to end against the local server,
over real HTTP with the official client: upload, job, events, model, answers; retries and errors."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest

from lab.config import Settings
from lab.training.fake_openai import FakeOpenAI, RunningFake, serve_fake_openai
from lab.training.finetune import choose_hyperparameters
from lab.training.providers import (
    AzureOpenAIProvider,
    ClientProvider,
    CompatibleProvider,
    FineTuneProvider,
    OpenAIProvider,
    ProviderError,
    provider_from_settings,
    wait_for_job,
)
from lab.training.retry import RetryPolicy
from tests.integration.training_data import eleven_images_jsonl, examples, jsonl

PHASE_S = 0.05
POLL_S = 0.02
API_VERSION = "2025-04-01-preview"
DEPLOYMENT = "codesight-shop"
PROVIDERS = ("openai", "azure", "compatible")


class RecordingSleep:
    """Stands in for asyncio.sleep in the retry policy: records each wait, waits no time."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture(autouse=True)
def no_codesight_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built here see only what each test passes, not the developer's CODESIGHT_* variables."""
    for name in [n for n in os.environ if n.startswith("CODESIGHT_")]:
        monkeypatch.delenv(name)


@pytest.fixture
async def server() -> AsyncIterator[RunningFake]:
    async with serve_fake_openai(FakeOpenAI(phase_s=PHASE_S)) as running:
        yield running


def make_provider(kind: str, server: RunningFake, policy: RetryPolicy | None = None) -> ClientProvider:
    sleep = RecordingSleep()
    if kind == "openai":
        return OpenAIProvider("sk-test", server.openai_base_url, policy, sleep=sleep)
    if kind == "azure":
        return AzureOpenAIProvider(server.azure_endpoint, "azure-key", API_VERSION, DEPLOYMENT, policy, sleep=sleep)
    return CompatibleProvider(server.openai_base_url, None, policy, sleep=sleep)


def api_prefix(kind: str) -> str:
    return "/openai" if kind == "azure" else "/v1"


@pytest.fixture(params=PROVIDERS)
async def provider(request: pytest.FixtureRequest, server: RunningFake) -> AsyncIterator[ClientProvider]:
    made = make_provider(request.param, server)
    try:
        yield made
    finally:
        await made.aclose()


async def test_full_flow_with_429_and_500_on_the_way(provider: ClientProvider, server: RunningFake) -> None:
    prefix = api_prefix(provider.name)
    server.fake.inject(429, retry_after_s=2, path_prefix=f"{prefix}/files")
    server.fake.inject(500, path_prefix=f"{prefix}/fine_tuning/jobs")
    server.fake.inject(503, path_prefix=f"{prefix}/fine_tuning/jobs/")

    training = examples(12)
    uploaded = await provider.upload(jsonl(12), filename="shop-train.jsonl")
    validation = await provider.upload(examples_jsonl(examples(3, start=12)), filename="shop-valid.jsonl")
    choice = choose_hyperparameters(len(training))
    job = await provider.create_job(
        uploaded.id, validation.id, "gpt-4o-2024-08-06", choice.hyperparameters, suffix="shop", seed=7
    )
    assert job.status == "validating_files"
    done = await wait_for_job(provider, job.id, poll_interval_s=POLL_S, timeout_s=10)

    assert done.status == "succeeded", done
    assert done.fine_tuned_model is not None and done.trained_tokens and done.result_files
    assert done.hyperparameters["n_epochs"] == choice.hyperparameters.n_epochs
    events = await provider.list_events(job.id)
    assert events[0].message == f"Created fine-tuning job: {job.id}"
    assert events[-1].message == "The job has successfully completed"

    if provider.name == "azure":
        server.fake.deploy(DEPLOYMENT, done.fine_tuned_model)
    trained, held_out = training[5], examples(1, start=12)[0]
    reply = await provider.respond(done.fine_tuned_model, trained["messages"][:2], trained["tools"])
    expected = trained["messages"][2]["tool_calls"][0]["function"]
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        (expected["name"], json.loads(expected["arguments"]))
    ]
    assert json.loads(await provider.complete(done.fine_tuned_model, held_out["messages"][:2], held_out["tools"]))

    assert [(r.operation, r.reason) for r in provider.retries] == [
        ("upload", "429"),
        ("create_job", "500"),
        ("get_job", "503"),
    ]
    assert provider.retries[0].delay_s == 2.0  # the server's Retry-After, not our backoff
    assert 0.25 <= provider.retries[1].delay_s <= 0.5  # first backoff: half of 0.5 s plus jitter
    assert [f.status for f in server.fake.served_faults] == [429, 500, 503]


def examples_jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


async def test_a_failed_job_surfaces_code_message_and_param(provider: ClientProvider) -> None:
    uploaded = await provider.upload(jsonl(5), filename="tiny.jsonl")
    job = await provider.create_job(uploaded.id, None, "gpt-4o-2024-08-06")
    failed = await wait_for_job(provider, job.id, poll_interval_s=POLL_S, timeout_s=10)
    assert failed.status == "failed" and failed.fine_tuned_model is None
    assert (failed.error_code, failed.error_message, failed.error_param) == (
        "invalid_n_examples",
        "Training file has 5 example(s), but must have at least 10 examples",
        "training_file",
    )
    assert any(e.level == "error" for e in await provider.list_events(job.id))


async def test_cancel_stops_a_job(provider: ClientProvider, server: RunningFake) -> None:
    server.fake.phase_s = 60
    uploaded = await provider.upload(jsonl(10), filename="train.jsonl")
    job = await provider.create_job(uploaded.id, None, "gpt-4o-2024-08-06")
    assert (await provider.cancel(job.id)).status == "cancelled"
    assert (await provider.get_job(job.id)).status == "cancelled"
    with pytest.raises(ProviderError) as refused:
        await provider.cancel(job.id)
    assert refused.value.status_code == 400 and "already cancelled" in refused.value.message


async def test_refused_requests_are_not_retried_and_name_the_field(provider: ClientProvider) -> None:
    with pytest.raises(ProviderError) as bad_file:
        await provider.upload(b'{"messages": []}\n', filename="train.jsonl")
    assert (bad_file.value.code, bad_file.value.param) == ("invalid_file_format", "file")
    assert "missing_messages_list: 1" in bad_file.value.message
    with pytest.raises(ProviderError) as bad_model:
        uploaded = await provider.upload(jsonl(10), filename="train.jsonl")
        await provider.create_job(uploaded.id, None, "gpt-2")
    assert (bad_model.value.code, bad_model.value.param) == ("model_not_available", "model")
    assert provider.retries == []


async def test_eleven_images_upload_to_azure_but_not_to_openai(server: RunningFake) -> None:
    content = eleven_images_jsonl()
    openai_provider, azure_provider = make_provider("openai", server), make_provider("azure", server)
    try:
        with pytest.raises(ProviderError) as refused:
            await openai_provider.upload(content, filename="train.jsonl")
        assert refused.value.param == "file" and "too_many_images: 1" in refused.value.message
        uploaded = await azure_provider.upload(content, filename="train.jsonl")
        job = await azure_provider.create_job(uploaded.id, None, "gpt-4.1-2025-04-14")
        done = await wait_for_job(azure_provider, job.id, poll_interval_s=POLL_S, timeout_s=10)
        assert done.status == "succeeded", done
    finally:
        await openai_provider.aclose()
        await azure_provider.aclose()


async def test_transient_failures_that_do_not_end_surface_after_the_last_attempt(server: RunningFake) -> None:
    server.fake.inject(500, count=5, path_prefix="/v1/models")
    server.fake.inject(502, count=5, path_prefix="/v1/files")
    provider = make_provider("openai", server, RetryPolicy(max_attempts=3))
    try:
        with pytest.raises(ProviderError) as gave_up:
            await provider.upload(jsonl(10), filename="train.jsonl")
        assert gave_up.value.status_code == 502
        assert [r.attempt for r in provider.retries] == [1, 2]
        assert len(server.fake.served_faults) == 3
    finally:
        await provider.aclose()


async def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as closed:  # bound, never listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        sleep = RecordingSleep()
        provider = OpenAIProvider("sk-test", f"http://127.0.0.1:{port}/v1", RetryPolicy(max_attempts=3), sleep=sleep)
        try:
            with pytest.raises(ProviderError) as gave_up:
                await provider.get_job("ftjob-1")
        finally:
            await provider.aclose()
    assert gave_up.value.code == "APIConnectionError"
    assert [r.reason for r in provider.retries] == ["connection", "connection"]
    assert sleep.delays[1] > sleep.delays[0] / 2  # backoff grows (with jitter)


async def test_azure_without_an_api_version_is_a_clear_error(server: RunningFake) -> None:
    with pytest.raises(ProviderError) as in_code:
        AzureOpenAIProvider(server.azure_endpoint, "azure-key", "")
    assert in_code.value.param == "api_version"

    settings = Settings(_env_file=None, ft_provider="azure", azure_endpoint=server.azure_endpoint, azure_api_key="k")
    with pytest.raises(ProviderError) as in_settings:
        provider_from_settings(settings)
    assert in_settings.value.param == "CODESIGHT_AZURE_API_VERSION"
    assert "CODESIGHT_AZURE_API_VERSION" in in_settings.value.message

    # An OpenAI client pointed at Azure's paths without the query parameter: the server names it.
    client = openai.AsyncOpenAI(
        api_key="unused", base_url=f"{server.url}/openai", default_headers={"api-key": "azure-key"}, max_retries=0
    )
    provider = ClientProvider(client)
    try:
        with pytest.raises(ProviderError) as on_the_wire:
            await provider.upload(jsonl(10), filename="train.jsonl")
    finally:
        await provider.aclose()
    assert (on_the_wire.value.code, on_the_wire.value.param) == ("MissingApiVersionParameter", "api-version")
    assert "api-version" in on_the_wire.value.message


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_settings_build_each_provider_against_the_fake(kind: str, server: RunningFake) -> None:
    values: dict[str, Callable[[], dict[str, Any]]] = {
        "openai": lambda: {"openai_api_key": "sk-test", "openai_base_url": server.openai_base_url},
        "azure": lambda: {
            "azure_endpoint": server.azure_endpoint,
            "azure_api_key": "k",
            "azure_api_version": API_VERSION,
        },
        "compatible": lambda: {"openai_base_url": server.openai_base_url},
    }
    provider: FineTuneProvider = provider_from_settings(Settings(_env_file=None, ft_provider=kind, **values[kind]()))
    try:
        assert provider.name == kind
        assert (await provider.upload(jsonl(10), filename="train.jsonl")).purpose == "fine-tune"
    finally:
        await provider.aclose()
