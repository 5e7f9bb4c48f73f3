"""Azure deployments over ARM: name rules, settings, the documented REST shape, polling, retries and
errors, with the ARM client over an in-memory transport (httpx.MockTransport)."""

from __future__ import annotations

import json
import os
import uuid

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.config import Settings
from lab.training.azure_arm import (
    ARM_API_VERSION,
    MAX_NAME_LENGTH,
    ArmConfig,
    AzureDeployments,
    arm_config,
    check_deployment_name,
    deployment_name,
)
from lab.training.provider_errors import ProviderError
from lab.training.providers import AzureOpenAIProvider, provider_from_settings
from lab.training.retry import RetryPolicy
from lab.training.runs import serving_note

CONFIG = ArmConfig("sub-1", "rg-1", "acct-1", "tok-1", "https://arm.test", "standard", 3, timeout_s=60, poll_s=5)
MODEL = "gpt-4o-2024-08-06.ft-abc123"
URL = "https://arm.test/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/accounts/acct-1"
OPERATION = (
    "https://arm.test/subscriptions/sub-1/providers/Microsoft.CognitiveServices/locations/x/operationResults/op1"
    f"?api-version={ARM_API_VERSION}"
)


@pytest.fixture(autouse=True)
def no_codesight_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CODESIGHT_")]:
        monkeypatch.delenv(name)


class Script:
    """The transport's other end: answers requests from a script and remembers them."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)


class FakeTime:
    """Sleep and monotonic clock in one: sleeping moves the clock, waits no time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay

    def clock(self) -> float:
        return self.now


def deployment(state: str, model: str = MODEL, name: str = "codesight-shop-1") -> httpx.Response:
    body = {
        "name": name,
        "sku": {"name": "standard", "capacity": 3},
        "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}, "provisioningState": state},
    }
    return httpx.Response(200, json=body)


def arm_error(status: int, code: str, message: str = "nope", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


def client(script: Script, time: FakeTime, policy: RetryPolicy | None = None) -> AzureDeployments:
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    return AzureDeployments(
        CONFIG, policy, http_client=http, sleep=time.sleep, unit_random=lambda: 0.5, clock=time.clock
    )


# --- names and settings ---------------------------------------------------------------------------


@given(st.text(min_size=0, max_size=200), st.uuids())
def test_deployment_names_always_follow_azures_rules(site: str, run_id: uuid.UUID) -> None:
    name = deployment_name(site, run_id)
    check_deployment_name(name)  # raises when Azure would refuse it
    assert len(name) <= MAX_NAME_LENGTH and name.startswith("codesight-") and name.endswith(run_id.hex[:8])
    assert deployment_name(site, run_id) == name


def test_deployment_names_read_like_the_site_and_run() -> None:
    run_id = uuid.UUID("0123abcd-0000-0000-0000-000000000000")
    assert deployment_name("shop", run_id) == "codesight-shop-0123abcd"
    assert deployment_name("Kettles & Co / EU", run_id) == "codesight-kettles-co-eu-0123abcd"
    assert len(deployment_name("x" * 100, run_id)) == MAX_NAME_LENGTH


@pytest.mark.parametrize("bad", ["", "-starts-with-dash", "has space", "slash/name", "é", "a" * 65])
def test_names_azure_refuses_are_refused_before_any_request(bad: str) -> None:
    with pytest.raises(ProviderError) as refused:
        check_deployment_name(bad)
    assert refused.value.code == "invalid_deployment_name" and refused.value.param == "deployment"


def test_arm_settings_are_all_or_nothing() -> None:
    azure = {"azure_endpoint": "https://r.openai.azure.com", "azure_api_key": "k", "azure_api_version": "2025-04-01"}
    assert arm_config(Settings(_env_file=None, **azure)) is None
    with pytest.raises(ProviderError) as partial:
        arm_config(Settings(_env_file=None, azure_subscription_id="s", azure_account="a", **azure))
    assert partial.value.param == "CODESIGHT_AZURE_RESOURCE_GROUP"
    assert "need CODESIGHT_AZURE_RESOURCE_GROUP as well" in partial.value.message
    full = Settings(
        _env_file=None,
        ft_provider="azure",
        azure_subscription_id="s",
        azure_resource_group="g",
        azure_account="a",
        azure_arm_token="t",
        azure_deployment_capacity=5,
        **azure,
    )
    config = arm_config(full)
    assert config is not None and config.endpoint == "https://management.azure.com" and config.capacity == 5
    assert config.sku == "standard"
    provider = provider_from_settings(full)
    assert isinstance(provider, AzureOpenAIProvider) and provider.arm is not None


def test_the_plan_says_how_azure_will_serve_the_model() -> None:
    by_hand = serving_note(Settings(_env_file=None, azure_deployment="shop-ft"), "azure")
    assert by_hand is not None and "by hand" in by_hand and "'shop-ft'" in by_hand
    managed = serving_note(Settings(_env_file=None, azure_subscription_id="s"), "azure")
    assert managed is not None and "per hour" in managed and "azure-deployments prune" in managed
    assert serving_note(Settings(_env_file=None), "openai") is None


# --- the REST calls ---------------------------------------------------------------------------------


async def test_ensure_puts_the_documented_body_then_polls_until_succeeded() -> None:
    created = httpx.Response(201, json=deployment("Creating").json(), headers={"Azure-AsyncOperation": OPERATION})
    script = Script(arm_error(404, "DeploymentNotFound"), created, deployment("Creating"), deployment("Succeeded"))
    time = FakeTime()
    arm = client(script, time)

    ready = await arm.ensure("codesight-shop-1", MODEL)

    assert ready.state == "Succeeded" and ready.model == MODEL
    put = script.requests[1]
    assert put.method == "PUT" and str(put.url) == f"{URL}/deployments/codesight-shop-1?api-version={ARM_API_VERSION}"
    assert put.headers["authorization"] == "Bearer tok-1"
    assert json.loads(put.content) == {
        "sku": {"name": "standard", "capacity": 3},
        "properties": {"model": {"format": "OpenAI", "name": MODEL, "version": "1"}},
    }
    assert [r.method for r in script.requests] == ["GET", "PUT", "GET", "GET"]
    assert time.sleeps == [5]  # the configured poll interval, once: the second look saw Succeeded
    assert arm.retries == []


async def test_an_existing_deployment_is_reused_without_a_put() -> None:
    script = Script(deployment("Succeeded"))
    ready = await client(script, FakeTime()).ensure("codesight-shop-1", MODEL)
    assert ready.state == "Succeeded" and [r.method for r in script.requests] == ["GET"]


async def test_a_deployment_of_another_model_under_the_name_is_a_conflict() -> None:
    script = Script(deployment("Succeeded", model="gpt-4o-2024-08-06.ft-other"))
    with pytest.raises(ProviderError) as conflict:
        await client(script, FakeTime()).ensure("codesight-shop-1", MODEL)
    assert conflict.value.code == "deployment_conflict" and "ft-other" in conflict.value.message


async def test_failed_provisioning_surfaces_the_operations_error() -> None:
    created = httpx.Response(201, json=deployment("Creating").json(), headers={"Azure-AsyncOperation": OPERATION})
    failed_operation = httpx.Response(
        200,
        json={"status": "Failed", "error": {"code": "InsufficientQuota", "message": "capacity 3 exceeds quota 0"}},
    )
    script = Script(arm_error(404, "DeploymentNotFound"), created, deployment("Failed"), failed_operation)
    with pytest.raises(ProviderError) as failed:
        await client(script, FakeTime()).ensure("codesight-shop-1", MODEL)
    assert failed.value.code == "InsufficientQuota" and failed.value.param == "deployment"
    assert "'codesight-shop-1'" in failed.value.message and "capacity 3 exceeds quota 0" in failed.value.message
    assert str(script.requests[-1].url) == OPERATION


async def test_429_and_503_are_retried_honouring_retry_after() -> None:
    script = Script(
        arm_error(429, "TooManyRequests", headers={"Retry-After": "7"}),
        arm_error(503, "ServiceUnavailable"),
        deployment("Succeeded"),
    )
    time = FakeTime()
    arm = client(script, time)
    assert (await arm.get("codesight-shop-1")) is not None
    assert [(r.operation, r.reason, r.delay_s) for r in arm.retries] == [
        ("get_deployment", "429", 7.0),
        ("get_deployment", "503", 0.75),  # second backoff: ceiling 0.5 s * 2**1, half fixed plus half * 0.5
    ]
    assert time.sleeps == [7.0, 0.75]


async def test_refusals_are_not_retried_and_keep_azures_code() -> None:
    script = Script(arm_error(400, "DeploymentModelNotSupported", "The model 'gpt-2' is not supported"))
    arm = client(script, FakeTime())
    with pytest.raises(ProviderError) as refused:
        await arm.create("codesight-shop-1", "gpt-2")
    assert (refused.value.code, refused.value.status_code) == ("DeploymentModelNotSupported", 400)
    assert "gpt-2" in refused.value.message and arm.retries == [] and len(script.requests) == 1


async def test_transient_failures_that_do_not_end_surface_after_the_last_attempt() -> None:
    script = Script(*[arm_error(500, "InternalServerError") for _ in range(3)])
    arm = client(script, FakeTime(), RetryPolicy(max_attempts=3))
    with pytest.raises(ProviderError) as gave_up:
        await arm.delete("codesight-shop-1")
    assert gave_up.value.status_code == 500 and [r.attempt for r in arm.retries] == [1, 2]


async def test_provisioning_that_takes_too_long_is_a_clear_timeout() -> None:
    script = Script(*[deployment("Creating") for _ in range(20)])
    with pytest.raises(ProviderError) as slow:
        await client(script, FakeTime()).wait("codesight-shop-1")
    assert slow.value.code == "deployment_timeout" and "still Creating after 60 s" in slow.value.message


async def test_delete_says_whether_there_was_a_deployment_and_list_follows_next_link() -> None:
    page_two = f"{URL}/deployments?api-version={ARM_API_VERSION}&$skipToken=2"
    script = Script(
        httpx.Response(200),
        httpx.Response(204),
        httpx.Response(200, json={"value": [deployment("Succeeded").json()], "nextLink": page_two}),
        httpx.Response(200, json={"value": [deployment("Creating", name="other").json()]}),
    )
    arm = client(script, FakeTime())
    assert await arm.delete("codesight-shop-1") is True
    assert await arm.delete("codesight-shop-1") is False
    assert [d.name for d in await arm.list_all()] == ["codesight-shop-1", "other"]
    assert str(script.requests[-1].url) == page_two
