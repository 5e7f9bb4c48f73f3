"""Azure OpenAI deployments through Azure Resource Manager (ARM), Azure's control plane.

On Azure a fine-tuned model answers only through a *deployment*, which the data-plane API that
`AzureOpenAI` speaks cannot create. ARM can (https://learn.microsoft.com/en-us/rest/api/aiservices/
accountmanagement/deployments/create-or-update): PUT the deployment with the model, poll GET until
`properties.provisioningState` is `Succeeded`, DELETE it when it is no longer wanted. Azure bills a
fine-tuned deployment per hour while it exists, and deletes one left without calls for 15 days
(https://learn.microsoft.com/en-us/azure/ai-foundry/openai/how-to/fine-tuning-deploy).

Transient failures (429 honouring Retry-After, 408, 5xx, connection errors) are retried with the
project's policy (`lab.training.retry`) and recorded in `retries`; a refused bearer token (401) is
renewed once through its credential (`lab.training.arm_auth`); anything else is a ProviderError.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from lab.training.arm_auth import ArmToken, ServicePrincipal, arm_scope, credential_for, describe
from lab.training.provider_errors import ProviderError
from lab.training.retry import RetryPolicy, RetryRecord, retry_after_s, transient_status_reason

if TYPE_CHECKING:
    from lab.config import Settings

log = structlog.get_logger(__name__)

# The stable Cognitive Services management API (the REST reference above; Microsoft's
# fine-tuning how-to shows the same PUT body).
ARM_API_VERSION = "2024-10-01"
# Deployment names: letters, digits, `-`, `_` and `.`, at most 64 characters (Azure's rule for
# names of deployments and of the account they belong to).
MAX_NAME_LENGTH = 64
_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
# Every deployment CodeSight creates starts with this, and prune touches nothing else.
NAME_PREFIX = "codesight-"
# Characters of the run id in a deployment's name (unique enough within a site).
RUN_ID_CHARS = 8
# provisioningState values (DeploymentProvisioningState in the ARM API): still moving, or given up.
BUSY_STATES = frozenset({"Accepted", "Creating", "Moving"})
FAILED_STATES = frozenset({"Failed", "Canceled", "Disabled"})
SUCCEEDED = "Succeeded"
# The ARM settings that must all be set for CodeSight to manage deployments.
ARM_SETTINGS = ("azure_subscription_id", "azure_resource_group", "azure_account")
# A service principal's settings: all three, or none (then DefaultAzureCredential's chain is asked).
SERVICE_PRINCIPAL_SETTINGS = ("azure_tenant_id", "azure_client_id", "azure_client_secret")
# How ARM calls authenticate; each one also says that ARM deployments are wanted.
ARM_CREDENTIAL_SETTINGS = ("azure_arm_token", *SERVICE_PRINCIPAL_SETTINGS)


def deployment_name(site: str, run_id: uuid.UUID) -> str:
    """The deployment CodeSight makes for a run's model: `codesight-<site>-<first 8 hex of the run id>`."""
    suffix = run_id.hex[:RUN_ID_CHARS]
    slug = _NOT_IN_NAME.sub("-", site.lower()).strip("-_.") or "site"
    room = MAX_NAME_LENGTH - len(NAME_PREFIX) - 1 - len(suffix)
    return f"{NAME_PREFIX}{slug[:room].rstrip('-_.')}-{suffix}"


def check_deployment_name(name: str) -> None:
    """ProviderError naming the rule when Azure would refuse `name` as a deployment name."""
    if not name or len(name) > MAX_NAME_LENGTH or not _VALID_NAME.match(name):
        raise ProviderError(
            "invalid_deployment_name",
            f"{name!r} is not a valid Azure deployment name: 1 to {MAX_NAME_LENGTH} letters, digits, "
            "'-', '_' or '.', starting with a letter or digit",
            "deployment",
        )


@dataclass(frozen=True)
class ArmConfig:
    """Where the Azure OpenAI resource lives in ARM, how to authenticate, and what to deploy with.
    Authentication: the fixed `token` when set, else the `service_principal`, else DefaultAzureCredential."""

    subscription_id: str
    resource_group: str
    account: str
    token: str | None = None
    endpoint: str = "https://management.azure.com"
    sku: str = "standard"
    capacity: int = 1
    timeout_s: float = 1800.0
    poll_s: float = 10.0
    service_principal: ServicePrincipal | None = None

    @property
    def scope(self) -> str:
        return arm_scope(self.endpoint)

    @property
    def deployments_url(self) -> str:
        return (
            f"{self.endpoint.rstrip('/')}/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.account}/deployments"
        )


def _missing(settings: Settings, names: tuple[str, ...], why: str) -> ProviderError | None:
    """A ProviderError naming the settings of `names` that are unset, or None when all are set."""
    missing = [name for name in names if not getattr(settings, name)]
    if not missing:
        return None
    env = ", ".join(f"CODESIGHT_{name.upper()}" for name in missing)
    return ProviderError("missing_setting", f"{why} need {env} as well", f"CODESIGHT_{missing[0].upper()}")


def arm_config(settings: Settings) -> ArmConfig | None:
    """The ARM settings, or None when none is set (deployments are then made by hand); a
    ProviderError naming the first missing one when only some are."""
    if not any(getattr(settings, name) for name in (*ARM_SETTINGS, *ARM_CREDENTIAL_SETTINGS)):
        return None
    if error := _missing(settings, ARM_SETTINGS, "Azure deployments through ARM"):
        error.message += " (or unset every CODESIGHT_AZURE_* ARM setting and create deployments by hand)"
        raise error
    service_principal = None
    if not settings.azure_arm_token and any(getattr(settings, name) for name in SERVICE_PRINCIPAL_SETTINGS):
        if error := _missing(settings, SERVICE_PRINCIPAL_SETTINGS, "ARM calls as a service principal"):
            error.message += " (or unset them all to use DefaultAzureCredential)"
            raise error
        assert settings.azure_tenant_id and settings.azure_client_id and settings.azure_client_secret
        service_principal = ServicePrincipal(
            settings.azure_tenant_id, settings.azure_client_id, settings.azure_client_secret
        )
    assert settings.azure_subscription_id and settings.azure_resource_group and settings.azure_account
    return ArmConfig(
        subscription_id=settings.azure_subscription_id,
        resource_group=settings.azure_resource_group,
        account=settings.azure_account,
        token=settings.azure_arm_token or None,
        service_principal=service_principal,
        endpoint=settings.azure_arm_endpoint,
        sku=settings.azure_deployment_sku,
        capacity=settings.azure_deployment_capacity,
        timeout_s=settings.azure_deployment_timeout_s,
        poll_s=settings.azure_deployment_poll_s,
    )


@dataclass(frozen=True)
class ArmDeployment:
    """A deployment as ARM reports it."""

    name: str
    model: str
    state: str
    sku: str = ""
    capacity: int | None = None

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> ArmDeployment:
        properties = body.get("properties") or {}
        model = properties.get("model") or {}
        sku = body.get("sku") or {}
        return cls(
            name=str(body.get("name", "")),
            model=str(model.get("name", "")),
            state=str(properties.get("provisioningState", "")),
            sku=str(sku.get("name", "")),
            capacity=sku.get("capacity"),
        )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _arm_error(response: httpx.Response) -> ProviderError:
    """ARM's `{"error": {"code", "message"}}` as a ProviderError."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or f"http_{response.status_code}")
    message = str(error.get("message") or response.text or response.reason_phrase)
    return ProviderError(code, message, error.get("target"), response.status_code)


class AzureDeployments:
    """Create, wait for, list and delete deployments of one Azure OpenAI resource over ARM."""

    def __init__(
        self,
        config: ArmConfig,
        policy: RetryPolicy | None = None,
        *,
        retries: list[RetryRecord] | None = None,
        http_client: httpx.AsyncClient | None = None,
        token: ArmToken | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        unit_random: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.token = token or ArmToken(credential_for(config.token, config.service_principal), config.scope)
        self.policy = policy or RetryPolicy()
        self.retries: list[RetryRecord] = retries if retries is not None else []
        self.http = http_client or httpx.AsyncClient(timeout=60)
        self._sleep = sleep
        self._random = unit_random
        self._clock = clock
        # The Azure-AsyncOperation URL of each deployment created here: where ARM says why one failed.
        self._operations: dict[str, str] = {}

    async def _request(
        self, operation: str, method: str, url: str, body: Mapping[str, Any] | None = None, ok_missing: bool = False
    ) -> httpx.Response:
        """One ARM call, retrying transient failures; a 404 is returned when `ok_missing`, other errors raise."""
        params = None if "api-version=" in url else {"api-version": ARM_API_VERSION}
        for attempt in range(1, self.policy.max_attempts + 1):
            last = attempt == self.policy.max_attempts
            try:
                response = await self._send(operation, method, url, params, body)
            except httpx.TimeoutException as exc:
                if last:
                    raise ProviderError("APITimeoutError", f"ARM {operation} timed out: {exc}") from exc
                reason, delay = "timeout", self.policy.backoff_s(attempt - 1, self._random())
            except httpx.TransportError as exc:
                if last:
                    raise ProviderError("APIConnectionError", f"ARM {operation}: {exc!r}") from exc
                reason, delay = "connection", self.policy.backoff_s(attempt - 1, self._random())
            else:
                if response.is_success or (ok_missing and response.status_code == 404):
                    return response
                reason_or_none = transient_status_reason(response.status_code)
                if reason_or_none is None or last:
                    raise self._refusal(response)
                reason, delay = reason_or_none, self._delay(response, attempt)
            self.retries.append(RetryRecord(operation, attempt, reason, delay))
            log.warning("azure_arm.retry", operation=operation, attempt=attempt, reason=reason, delay_s=delay)
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _send(
        self, operation: str, method: str, url: str, params: dict[str, str] | None, body: Mapping[str, Any] | None
    ) -> httpx.Response:
        """One exchange with ARM under the current token; when ARM refuses the token (401) and the
        credential can issue another, once more under a new one."""
        bearer = await self.token.get()
        response = await self.http.request(method, url, params=params, headers=_bearer(bearer), json=body)
        if response.status_code != 401 or not self.token.renewable:
            return response
        log.info("azure_arm.token_refused", operation=operation, error=_arm_error(response).code)
        bearer = await self.token.renew(bearer)
        return await self.http.request(method, url, params=params, headers=_bearer(bearer), json=body)

    def _refusal(self, response: httpx.Response) -> ProviderError:
        """ARM's error, with what to do about it when ARM refused the token."""
        error = _arm_error(response)
        if response.status_code == 401 and not self.token.renewable:
            error.message += (
                " (CODESIGHT_AZURE_ARM_TOKEN is a fixed token, and ARM tokens expire after about an hour: set a "
                "new one, or unset it to let CodeSight get and renew tokens as a service principal or through "
                "DefaultAzureCredential)"
            )
        elif response.status_code == 401:
            error.message += f" (a token {describe(self.token.credential)[0]} had just issued was refused too)"
        return error

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        asked = retry_after_s(response.headers)
        if asked is not None and asked > self.policy.max_retry_after_s:
            error = _arm_error(response)
            error.message += f" (asked to retry after {asked:g} s, more than {self.policy.max_retry_after_s:g} s)"
            raise error
        return asked if asked is not None else self.policy.backoff_s(attempt - 1, self._random())

    async def get(self, name: str) -> ArmDeployment | None:
        """The deployment called `name`, or None when there is none."""
        check_deployment_name(name)
        response = await self._request(
            "get_deployment", "GET", f"{self.config.deployments_url}/{name}", ok_missing=True
        )
        return None if response.status_code == 404 else ArmDeployment.from_api(response.json())

    async def list_all(self) -> list[ArmDeployment]:
        """Every deployment of the resource (CodeSight's and anyone else's), following `nextLink`."""
        out: list[ArmDeployment] = []
        url: str | None = self.config.deployments_url
        while url:
            body = (await self._request("list_deployments", "GET", url)).json()
            out += [ArmDeployment.from_api(row) for row in body.get("value", [])]
            url = body.get("nextLink")
        return out

    async def create(self, name: str, model: str) -> ArmDeployment:
        """Ask ARM for deployment `name` of `model` (create or update); it provisions in the background."""
        check_deployment_name(name)
        body = {
            "sku": {"name": self.config.sku, "capacity": self.config.capacity},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
        }
        response = await self._request("create_deployment", "PUT", f"{self.config.deployments_url}/{name}", body)
        if operation := response.headers.get("azure-asyncoperation"):
            self._operations[name] = operation
        log.info("azure_arm.deployment_requested", deployment=name, model=model, status=response.status_code)
        return ArmDeployment.from_api(response.json())

    async def wait(self, name: str) -> ArmDeployment:
        """Poll until the deployment has provisioned; ProviderError when it failed, vanished or took too long."""
        deadline = self._clock() + self.config.timeout_s
        while True:
            current = await self.get(name)
            if current is None:
                raise ProviderError("DeploymentNotFound", f"Azure deployment {name!r} disappeared while provisioning")
            if current.state == SUCCEEDED:
                return current
            if current.state in FAILED_STATES:
                raise await self._failure(current)
            if self._clock() >= deadline:
                raise ProviderError(
                    "deployment_timeout",
                    f"Azure deployment {name!r} of {current.model} is still {current.state} after "
                    f"{self.config.timeout_s:g} s",
                    "deployment",
                )
            await self._sleep(self.config.poll_s)

    async def _failure(self, deployment: ArmDeployment) -> ProviderError:
        """Why provisioning failed: the async operation's error when ARM gave one, else the state."""
        where = f"Azure deployment {deployment.name!r} of {deployment.model}"
        operation = self._operations.get(deployment.name)
        if operation:
            status = (await self._request("deployment_operation", "GET", operation)).json()
            error = status.get("error") if isinstance(status, dict) else None
            if isinstance(error, dict) and error.get("code"):
                return ProviderError(str(error["code"]), f"{where} failed: {error.get('message', '')}", "deployment")
        return ProviderError("DeploymentFailed", f"{where} ended in provisioningState {deployment.state}", "deployment")

    async def ensure(self, name: str, model: str) -> ArmDeployment:
        """Deployment `name` of `model`, provisioned: reused when it is there, created (again) otherwise."""
        current = await self.get(name)
        if current is not None and current.model != model:
            raise ProviderError(
                "deployment_conflict",
                f"Azure deployment {name!r} already serves {current.model}, not {model}",
                "deployment",
            )
        if current is None or current.state in FAILED_STATES:
            await self.create(name, model)
        elif current.state == SUCCEEDED:
            return current
        return await self.wait(name)

    async def delete(self, name: str) -> bool:
        """Delete a deployment; False when there was none."""
        check_deployment_name(name)
        response = await self._request(
            "delete_deployment", "DELETE", f"{self.config.deployments_url}/{name}", ok_missing=True
        )
        log.info("azure_arm.deployment_deleted", deployment=name, status=response.status_code)
        return response.status_code not in (204, 404)

    async def aclose(self) -> None:
        try:
            await self.http.aclose()
        finally:
            await self.token.aclose()
