"""Bearer tokens for Azure Resource Manager: a fixed one from the settings, or one an azure-identity
credential issues and CodeSight refreshes.

A token from `az account get-access-token` lasts about an hour, so a worker that deploys for days
needs a credential that can issue new ones: a service principal (`ClientSecretCredential`) or
`DefaultAzureCredential`'s chain (environment, workload identity, managed identity, Azure CLI, ...;
https://learn.microsoft.com/en-us/python/api/overview/azure/identity-readme). Any azure-core
`AsyncTokenCredential` will do, which is how tests bring their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import structlog
from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError

from lab.training.provider_errors import ProviderError

log = structlog.get_logger(__name__)

# A token is fetched anew this long before its expires_on, as azure-core's own bearer-token policy
# does (DEFAULT_REFRESH_WINDOW_SECONDS in azure/core/pipeline/policies/_authentication.py).
REFRESH_MARGIN_S = 300.0
# A fixed token has no expiry CodeSight knows of: it is used until ARM refuses it.
NEVER_EXPIRES = 2**62


def arm_scope(endpoint: str) -> str:
    """The OAuth scope of tokens for the ARM at `endpoint` (`https://management.azure.com/.default`
    for Azure's public cloud; each sovereign cloud's ARM is its own audience)."""
    return f"{endpoint.rstrip('/')}/.default"


@dataclass(frozen=True)
class ServicePrincipal:
    """An Entra ID application that signs in with a client secret (what a server deployment usually has)."""

    tenant_id: str
    client_id: str
    client_secret: str


class CredentialBase:
    """The async-context-manager half of azure-core's AsyncTokenCredential protocol, for a credential
    that holds nothing to release; one that does overrides `close`."""

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()


class FixedTokenCredential(CredentialBase):
    """A token given in the settings, as an AsyncTokenCredential; it cannot be renewed."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, NEVER_EXPIRES)


def credential_for(token: str | None, service_principal: ServicePrincipal | None) -> AsyncTokenCredential:
    """The credential the settings describe: the fixed token, else the service principal, else
    `DefaultAzureCredential` (which finds one in the environment, a managed identity or a CLI login)."""
    if token:
        return FixedTokenCredential(token)
    # Imported here: azure-identity (msal, aiohttp) takes a good part of a second to import, and a fixed
    # token does not need it.
    from azure.identity.aio import ClientSecretCredential, DefaultAzureCredential

    if service_principal is not None:
        return ClientSecretCredential(
            service_principal.tenant_id, service_principal.client_id, service_principal.client_secret
        )
    return DefaultAzureCredential()


def describe(credential: AsyncTokenCredential) -> tuple[str, str | None]:
    """Which credential, in words a trainer can act on, and the setting behind it (None for the chain)."""
    if isinstance(credential, FixedTokenCredential):
        return "CODESIGHT_AZURE_ARM_TOKEN", "CODESIGHT_AZURE_ARM_TOKEN"
    name = type(credential).__name__
    return name, "CODESIGHT_AZURE_CLIENT_SECRET" if name == "ClientSecretCredential" else None


class ArmToken:
    """The bearer token ARM calls carry: cached until REFRESH_MARGIN_S before it expires, renewed
    when ARM refuses it (once per refusal, however many calls saw it refused)."""

    def __init__(
        self,
        credential: AsyncTokenCredential,
        scope: str,
        *,
        clock: Callable[[], float] = time.time,
        refresh_margin_s: float = REFRESH_MARGIN_S,
    ) -> None:
        self.credential = credential
        self.scope = scope
        self._clock = clock
        self._margin_s = refresh_margin_s
        self._current: AccessToken | None = None
        self._lock = asyncio.Lock()

    @property
    def renewable(self) -> bool:
        """False for a fixed token: asking again would give the same one."""
        return not isinstance(self.credential, FixedTokenCredential)

    async def get(self) -> str:
        """A token that is not about to expire."""
        async with self._lock:
            current = self._current
            if current is None or self._clock() >= current.expires_on - self._margin_s:
                current = await self._fetch()
            return current.token

    async def renew(self, refused: str) -> str:
        """A token other than `refused`, which ARM turned down; fetched once even when several calls
        were refused with it at the same time."""
        async with self._lock:
            current = self._current
            if current is None or current.token == refused:
                current = await self._fetch()
            return current.token

    async def _fetch(self) -> AccessToken:
        name, setting = describe(self.credential)
        try:
            fresh = await self.credential.get_token(self.scope)
        except AzureError as exc:
            raise ProviderError(
                "ArmAuthenticationFailed",
                f"{name} could not get a token for Azure Resource Manager ({self.scope}): {exc.message}",
                setting,
            ) from exc
        self._current = fresh
        log.info("azure_arm.token_issued", credential=name, expires_on=fresh.expires_on)
        return fresh

    async def aclose(self) -> None:
        await self.credential.close()
