"""Azure deployments end to end against the local server over real HTTP: ARM creates a deployment
of a fine-tuned model (Creating, then Succeeded), the data plane answers through it, and ARM's
refusals, failures, 429s and authentication behave as Azure's do (an expired token is refused and a
renewed one carries on); `codesight azure-deployments prune` deletes CodeSight's retired deployments and
nothing else."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from click.testing import CliRunner

from lab.config import get_settings
from lab.training.arm_auth import ArmToken, CredentialBase
from lab.training.azure_arm import ARM_API_VERSION, ArmConfig, AzureDeployments
from lab.training.fake_openai import FakeOpenAI, RunningFake, serve_fake_openai
from lab.training.provider_errors import ProviderError
from lab.training.providers import AzureOpenAIProvider, wait_for_job
from tests.integration.training_data import examples, jsonl
from web.cli import main

PHASE_S = 0.05
PROVISIONING_S = 0.3
API_VERSION = "2025-04-01-preview"
TOKEN = "arm-token"
NAME = "codesight-shop-0123abcd"


@pytest.fixture
async def server() -> AsyncIterator[RunningFake]:
    fake = FakeOpenAI(phase_s=PHASE_S, arm_token=TOKEN, provisioning_s=PROVISIONING_S)
    async with serve_fake_openai(fake) as running:
        yield running


def config(server: RunningFake, token: str | None = TOKEN) -> ArmConfig:
    return ArmConfig("sub-test", "rg-test", "codesight-test", token, server.url, poll_s=0.02, timeout_s=10)


@pytest.fixture
async def provider(server: RunningFake) -> AsyncIterator[AzureOpenAIProvider]:
    made = AzureOpenAIProvider(server.azure_endpoint, "azure-key", API_VERSION, arm=config(server))
    try:
        yield made
    finally:
        await made.aclose()


async def fine_tune(provider: AzureOpenAIProvider) -> str:
    """A fine-tuned model the local server knows, trained on `examples(10)`."""
    uploaded = await provider.upload(jsonl(10), filename="shop-train.jsonl")
    job = await provider.create_job(uploaded.id, None, "gpt-4o-2024-08-06")
    done = await wait_for_job(provider, job.id, poll_interval_s=0.02, timeout_s=10)
    assert done.status == "succeeded" and done.fine_tuned_model, done
    return done.fine_tuned_model


async def test_evaluation_style_call_goes_through_a_deployment_made_over_arm(
    provider: AzureOpenAIProvider, server: RunningFake
) -> None:
    model = await fine_tune(provider)
    trained = examples(10)[4]
    # Azure does not answer a fine-tuned model by its id: only a deployment of it does.
    with pytest.raises(ProviderError) as undeployed:
        await provider.respond(model, trained["messages"][:2], trained["tools"])
    assert undeployed.value.code == "DeploymentNotFound"

    target = await provider.ensure_deployment(model, NAME)

    assert target == NAME and provider.serving_target(model, NAME) == NAME
    made = server.fake.arm.deployments[NAME]
    assert (made.model, made.sku, made.capacity) == (model, "standard", 1)
    assert made.state_at(server.fake.clock()) == "Succeeded"
    reply = await provider.respond(target, trained["messages"][:2], trained["tools"])
    assert [json.loads(c.arguments) for c in reply.tool_calls] == [
        json.loads(trained["messages"][2]["tool_calls"][0]["function"]["arguments"])
    ]
    # A second ensure reuses it; remove deletes it, and the data plane stops answering.
    assert await provider.ensure_deployment(model, NAME) == NAME
    assert server.fake.arm.deployments[NAME] is made
    assert await provider.remove_deployment(NAME) is True
    assert await provider.remove_deployment(NAME) is False
    with pytest.raises(ProviderError) as gone:
        await provider.respond(NAME, trained["messages"][:2], trained["tools"])
    assert gone.value.code == "DeploymentNotFound"


async def test_a_provisioning_deployment_does_not_answer_yet(
    provider: AzureOpenAIProvider, server: RunningFake
) -> None:
    model = await fine_tune(provider)
    assert provider.arm is not None
    created = await provider.arm.create(NAME, model)
    assert created.state == "Creating"
    with pytest.raises(ProviderError) as early:
        await provider.respond(NAME, [{"role": "user", "content": "hi"}])
    assert early.value.code == "DeploymentNotFound" and "5 minutes" in early.value.message
    assert (await provider.arm.wait(NAME)).state == "Succeeded"
    assert (await provider.respond(NAME, [{"role": "user", "content": "hi"}])).content


async def test_only_fine_tuned_models_the_resource_knows_can_be_deployed(provider: AzureOpenAIProvider) -> None:
    with pytest.raises(ProviderError) as refused:
        await provider.ensure_deployment("gpt-4o-2024-08-06.ft-nobodytrainedthis", NAME)
    assert (refused.value.code, refused.value.status_code) == ("DeploymentModelNotSupported", 400)
    assert provider.retries == []


async def test_failed_provisioning_surfaces_azures_code_and_message(
    provider: AzureOpenAIProvider, server: RunningFake
) -> None:
    model = await fine_tune(provider)
    server.fake.arm.fail_next("InsufficientQuota", "The capacity requested exceeds the quota of this resource.")
    with pytest.raises(ProviderError) as failed:
        await provider.ensure_deployment(model, NAME)
    assert failed.value.code == "InsufficientQuota" and failed.value.param == "deployment"
    assert "exceeds the quota" in failed.value.message and NAME in failed.value.message
    # Ensuring again puts the deployment anew, and this time it provisions.
    assert await provider.ensure_deployment(model, NAME) == NAME


async def test_429s_from_arm_are_retried_and_recorded(provider: AzureOpenAIProvider, server: RunningFake) -> None:
    model = await fine_tune(provider)
    server.fake.inject(429, count=2, retry_after_s=0.05, path_prefix="/subscriptions/")
    assert await provider.ensure_deployment(model, NAME) == NAME
    assert [(r.operation, r.reason) for r in provider.retries] == [("get_deployment", "429"), ("get_deployment", "429")]
    assert [f.status for f in server.fake.served_faults] == [429, 429]


async def test_arm_wants_the_bearer_token_and_an_api_version(server: RunningFake) -> None:
    wrong = AzureDeployments(config(server, token="stolen"))
    try:
        with pytest.raises(ProviderError) as denied:
            await wrong.list_all()
    finally:
        await wrong.aclose()
    assert (denied.value.code, denied.value.status_code) == ("InvalidAuthenticationToken", 401)
    url = config(server).deployments_url
    async with httpx.AsyncClient() as http:
        anonymous = await http.get(url, params={"api-version": ARM_API_VERSION})
        unversioned = await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        missing = await http.get(
            f"{url}/nothing-here", params={"api-version": ARM_API_VERSION}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "AuthenticationFailed"
    assert unversioned.status_code == 400 and unversioned.json()["error"]["code"] == "MissingApiVersionParameter"
    assert missing.status_code == 404 and missing.json() == {
        "error": {"code": "DeploymentNotFound", "message": "Deployment 'nothing-here' not found."}
    }


class ServerClock:
    """The local server's clock, which the test can move an hour on (the client's stays put)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


class FakeEntraCredential(CredentialBase):
    """An azure-core AsyncTokenCredential whose tokens the local server issues (`POST /_fake/arm-token`),
    as Entra ID issues ARM's; it remembers each one."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.issued: list[str] = []

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{self.server_url}/_fake/arm-token", json={"ttl_s": 3600})
        response.raise_for_status()
        body = response.json()
        self.issued.append(body["access_token"])
        return AccessToken(body["access_token"], body["expires_on"])


async def test_an_expired_arm_token_is_refused_and_a_renewed_one_carries_on() -> None:
    clock = ServerClock()
    fake = FakeOpenAI(phase_s=PHASE_S, arm_token=TOKEN, provisioning_s=PROVISIONING_S, clock=clock)
    async with serve_fake_openai(fake) as server:
        trainer = AzureOpenAIProvider(server.azure_endpoint, "azure-key", API_VERSION, arm=config(server))
        try:
            model = await fine_tune(trainer)
        finally:
            await trainer.aclose()
        credential = FakeEntraCredential(server.url)
        arm_config = config(server, token=None)
        arm = AzureDeployments(arm_config, token=ArmToken(credential, arm_config.scope))
        try:
            assert (await arm.create(NAME, model)).state == "Creating"
            # An hour on, for the server: the token the client holds has expired there.
            clock.offset_s = 3600
            ready = await arm.wait(NAME)
        finally:
            await arm.aclose()
        assert ready.state == "Succeeded" and arm.retries == []
        assert len(credential.issued) == 2
        async with httpx.AsyncClient() as http:
            stale, renewed = [
                await http.get(
                    arm_config.deployments_url,
                    params={"api-version": ARM_API_VERSION},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for token in credential.issued
            ]
        assert stale.status_code == 401 and stale.json()["error"]["code"] == "ExpiredAuthenticationToken"
        assert renewed.status_code == 200 and [d["name"] for d in renewed.json()["value"]] == [NAME]


async def test_prune_command_deletes_only_codesights_retired_deployments(
    provider: AzureOpenAIProvider, server: RunningFake, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = await fine_tune(provider)
    await provider.ensure_deployment(model, NAME)  # no run or site uses it: retired
    await provider.ensure_deployment(model, "team-playground")  # someone else's
    for name in [n for n in os.environ if n.startswith("CODESIGHT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CODESIGHT_DATABASE_URL", db_url)
    get_settings.cache_clear()

    async def prune(*options: str) -> tuple[int, str]:
        result = await asyncio.to_thread(CliRunner().invoke, main, ["azure-deployments", "prune", *options])
        get_settings.cache_clear()
        return result.exit_code, result.output

    try:
        assert await prune() == (
            1,
            "Error: managing Azure deployments needs CODESIGHT_AZURE_SUBSCRIPTION_ID, CODESIGHT_AZURE_RESOURCE_GROUP "
            "and CODESIGHT_AZURE_ACCOUNT\n",
        )
        arm = config(server)
        for name, value in (
            ("SUBSCRIPTION_ID", arm.subscription_id),
            ("RESOURCE_GROUP", arm.resource_group),
            ("ACCOUNT", arm.account),
            ("ARM_TOKEN", TOKEN),
            ("ARM_ENDPOINT", arm.endpoint),
        ):
            monkeypatch.setenv(f"CODESIGHT_AZURE_{name}", value)
        code, dry = await prune("--dry-run")
        assert code == 0, dry
        assert f"would delete: {NAME}" in dry and "left alone (not CodeSight's): team-playground" in dry
        assert set(server.fake.arm.deployments) == {NAME, "team-playground"}
        code, done = await prune()
        assert code == 0, done
        assert f"deleted: {NAME}" in done and "kept (in use): none" in done
        assert set(server.fake.arm.deployments) == {"team-playground"}
    finally:
        get_settings.cache_clear()
