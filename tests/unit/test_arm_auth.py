"""ARM bearer tokens: cached until shortly before they expire, renewed once when ARM refuses one, a
fixed token never renewed, and the credential the settings choose. The credential here is a small
azure-core AsyncTokenCredential (the SDK's extension point), ARM an httpx.MockTransport."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.identity import CredentialUnavailableError

from lab.config import Settings
from lab.training.arm_auth import REFRESH_MARGIN_S, ArmToken, CredentialBase, FixedTokenCredential, arm_scope
from lab.training.azure_arm import ArmConfig, AzureDeployments, arm_config
from lab.training.provider_errors import ProviderError

SCOPE = "https://management.azure.com/.default"
CONFIG = ArmConfig("sub-1", "rg-1", "acct-1", None, "https://arm.test", poll_s=5)
DEPLOYMENT = {
    "name": "codesight-shop-1",
    "properties": {"model": {"format": "OpenAI", "name": "gpt-4o.ft-1", "version": "1"}, "provisioningState": "X"},
}


@pytest.fixture(autouse=True)
def no_codesight_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CODESIGHT_")]:
        monkeypatch.delenv(name)


class WallClock:
    """Unix time that only the test moves."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class IssuingCredential(CredentialBase):
    """An azure-core AsyncTokenCredential issuing `token-1`, `token-2`, ... that last `ttl_s` on `clock`."""

    def __init__(self, clock: WallClock, ttl_s: float = 3600.0, error: Exception | None = None) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self.error = error
        self.asked: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.asked.append(scopes)
        await asyncio.sleep(0)  # a real credential awaits Entra ID here; let other calls interleave
        if self.error is not None:
            raise self.error
        return AccessToken(f"token-{len(self.asked)}", int(self.clock() + self.ttl_s))

    async def close(self) -> None:
        self.closed = True


class Script:
    """ARM's end of the transport: answers from a script and remembers each request's bearer token."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.bearers: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bearers.append(request.headers["authorization"].removeprefix("Bearer "))
        return self.responses.pop(0)


def refused(code: str = "ExpiredAuthenticationToken") -> httpx.Response:
    return httpx.Response(401, json={"error": {"code": code, "message": "The access token has expired."}})


def arm(script: Script, token: ArmToken, config: ArmConfig = CONFIG) -> AzureDeployments:
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    return AzureDeployments(config, http_client=http, token=token)


# --- the cache ---------------------------------------------------------------------------------------


async def test_a_token_is_reused_until_the_refresh_margin_before_it_expires() -> None:
    clock = WallClock()
    credential = IssuingCredential(clock, ttl_s=3600)
    token = ArmToken(credential, SCOPE, clock=clock)
    start = clock.now

    assert await token.get() == "token-1"
    clock.now = start + 3600 - REFRESH_MARGIN_S - 1
    assert await token.get() == "token-1"
    clock.now = start + 3600 - REFRESH_MARGIN_S
    assert await token.get() == "token-2"
    assert credential.asked == [(SCOPE,), (SCOPE,)]


async def test_calls_that_need_a_token_at_once_share_one_fetch() -> None:
    credential = IssuingCredential(WallClock())
    token = ArmToken(credential, SCOPE, clock=credential.clock)
    assert await asyncio.gather(*[token.get() for _ in range(5)]) == ["token-1"] * 5
    assert len(credential.asked) == 1


async def test_a_refused_token_is_renewed_once_however_many_calls_saw_it_refused() -> None:
    credential = IssuingCredential(WallClock())
    token = ArmToken(credential, SCOPE, clock=credential.clock)
    first = await token.get()
    assert await asyncio.gather(token.renew(first), token.renew(first), token.renew(first)) == ["token-2"] * 3
    assert await token.get() == "token-2" and len(credential.asked) == 2


async def test_a_fixed_token_is_used_as_given_and_never_renewed() -> None:
    token = ArmToken(FixedTokenCredential("from-az-cli"), SCOPE)
    assert not token.renewable
    assert await token.get() == "from-az-cli"
    assert await token.renew("from-az-cli") == "from-az-cli"


async def test_a_credential_that_cannot_sign_in_is_a_clear_provider_error() -> None:
    unavailable = CredentialUnavailableError("EnvironmentCredential: environment variables are not fully configured")
    token = ArmToken(IssuingCredential(WallClock(), error=unavailable), SCOPE)
    with pytest.raises(ProviderError) as failed:
        await token.get()
    assert failed.value.code == "ArmAuthenticationFailed" and failed.value.__cause__ is unavailable
    assert "IssuingCredential could not get a token for Azure Resource Manager" in failed.value.message
    assert SCOPE in failed.value.message and "not fully configured" in failed.value.message


def test_the_scope_is_the_arm_endpoints_default_scope() -> None:
    assert CONFIG.scope == "https://arm.test/.default"
    assert ArmConfig("s", "g", "a").scope == SCOPE == arm_scope("https://management.azure.com/")
    assert arm_scope("https://management.usgovcloudapi.net") == "https://management.usgovcloudapi.net/.default"


# --- ARM calls ----------------------------------------------------------------------------------------


async def test_arm_refusing_an_expired_token_gets_a_renewed_one_and_the_call_succeeds() -> None:
    credential = IssuingCredential(WallClock())
    script = Script(refused(), httpx.Response(200, json=DEPLOYMENT))
    client = arm(script, ArmToken(credential, SCOPE, clock=credential.clock))
    try:
        found = await client.get("codesight-shop-1")
    finally:
        await client.aclose()
    assert found is not None and found.name == "codesight-shop-1"
    assert script.bearers == ["token-1", "token-2"]
    assert client.retries == [] and credential.closed


async def test_a_token_past_its_refresh_margin_is_renewed_before_the_call() -> None:
    clock = WallClock()
    credential = IssuingCredential(clock, ttl_s=3600)
    script = Script(httpx.Response(200, json=DEPLOYMENT), httpx.Response(200, json=DEPLOYMENT))
    client = arm(script, ArmToken(credential, SCOPE, clock=clock))
    await client.get("codesight-shop-1")
    clock.now += 3600
    await client.get("codesight-shop-1")
    await client.aclose()
    assert script.bearers == ["token-1", "token-2"]


async def test_a_renewed_token_that_is_refused_too_is_an_error_after_one_renewal() -> None:
    credential = IssuingCredential(WallClock())
    script = Script(refused("InvalidAuthenticationToken"), refused("InvalidAuthenticationToken"))
    client = arm(script, ArmToken(credential, SCOPE, clock=credential.clock))
    with pytest.raises(ProviderError) as denied:
        await client.list_all()
    await client.aclose()
    assert (denied.value.code, denied.value.status_code) == ("InvalidAuthenticationToken", 401)
    assert "a token IssuingCredential had just issued was refused too" in denied.value.message
    assert script.bearers == ["token-1", "token-2"]


async def test_a_fixed_token_arm_refuses_is_an_error_that_says_what_to_do() -> None:
    script = Script(refused())
    client = arm(script, ArmToken(FixedTokenCredential("stale"), SCOPE))
    with pytest.raises(ProviderError) as denied:
        await client.delete("codesight-shop-1")
    await client.aclose()
    assert (denied.value.code, denied.value.status_code) == ("ExpiredAuthenticationToken", 401)
    assert "CODESIGHT_AZURE_ARM_TOKEN is a fixed token" in denied.value.message
    assert "DefaultAzureCredential" in denied.value.message and script.bearers == ["stale"]


# --- which credential the settings choose --------------------------------------------------------------

ARM = {"azure_subscription_id": "s", "azure_resource_group": "g", "azure_account": "a"}
SERVICE_PRINCIPAL = {"azure_tenant_id": "t", "azure_client_id": "c", "azure_client_secret": "shh"}


@pytest.mark.parametrize(
    ("settings", "credential"),
    [
        ({"azure_arm_token": "fixed", **SERVICE_PRINCIPAL}, "FixedTokenCredential"),
        (SERVICE_PRINCIPAL, "ClientSecretCredential"),
        ({}, "DefaultAzureCredential"),
    ],
)
async def test_the_settings_choose_a_fixed_token_a_service_principal_or_the_default_chain(
    settings: dict[str, str], credential: str
) -> None:
    config = arm_config(Settings(_env_file=None, **ARM, **settings))
    assert config is not None
    client = AzureDeployments(config)
    try:
        assert type(client.token.credential).__name__ == credential
        assert client.token.scope == SCOPE
    finally:
        await client.aclose()


def test_a_service_principal_needs_all_three_settings() -> None:
    with pytest.raises(ProviderError) as partial:
        arm_config(Settings(_env_file=None, azure_tenant_id="t", azure_client_secret="shh", **ARM))
    assert partial.value.param == "CODESIGHT_AZURE_CLIENT_ID"
    assert "DefaultAzureCredential" in partial.value.message


def test_credential_settings_alone_ask_for_the_resource() -> None:
    with pytest.raises(ProviderError) as partial:
        arm_config(Settings(_env_file=None, **SERVICE_PRINCIPAL))
    assert partial.value.param == "CODESIGHT_AZURE_SUBSCRIPTION_ID"
