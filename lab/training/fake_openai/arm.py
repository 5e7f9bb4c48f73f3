"""Azure Resource Manager's deployments of an Azure OpenAI resource, as the fake keeps them.

`PUT .../accounts/{account}/deployments/{name}` of a fine-tuned model the fake trained (a 400
otherwise, as Azure answers), provisioningState `Creating` for `provisioning_s` seconds and then
`Succeeded` (or `Failed`, when a test asked for it with `fail_next`), with an
`Azure-AsyncOperation` status that carries the error; GET one or all, DELETE. Errors come in
ARM's shape, `{"error": {"code", "message"}}`. Bearer tokens: the fixed one the fake was given, or
one it issued (`issue_token`, standing in for Entra ID) until it expires on the fake's clock.
Plain Python: the routes live in `app.py`.
"""

from __future__ import annotations

import re
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lab.training.fake_openai.errors import ApiError, deployment_not_found

# The fake resource's region, as ARM writes it into operation URLs.
LOCATION = "eastus2"
# Azure's rule for deployment names.
_VALID_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ArmError(ApiError):
    """An error in ARM's shape: `{"error": {"code", "message"}}`."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(status_code, message, code=code)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass(frozen=True)
class Scope:
    """Where a deployment lives: subscription, resource group, Azure OpenAI account."""

    subscription_id: str
    resource_group: str
    account: str

    def resource_id(self, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.account}/deployments/{name}"
        )


@dataclass
class FakeDeployment:
    scope: Scope
    name: str
    model: str
    sku: str
    capacity: int | None
    created_at: float
    ready_at: float
    operation_id: str
    failure: tuple[str, str] | None = None

    def state_at(self, now: float) -> str:
        if now < self.ready_at:
            return "Creating"
        return "Failed" if self.failure else "Succeeded"

    def to_api(self, now: float) -> dict[str, Any]:
        return {
            "id": self.scope.resource_id(self.name),
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "name": self.name,
            "sku": {"name": self.sku, "capacity": self.capacity},
            "properties": {
                "model": {"format": "OpenAI", "name": self.model, "version": "1"},
                "provisioningState": self.state_at(now),
            },
        }


def _utc(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _not_found(name: str) -> ArmError:
    return ArmError(404, "DeploymentNotFound", f"Deployment '{name}' not found.")


class FakeArm:
    """The deployments of the fake's Azure OpenAI resources, on the fake's clock."""

    def __init__(self, clock: Callable[[], float], provisioning_s: float, token: str | None = None) -> None:
        self.clock = clock
        self.provisioning_s = provisioning_s
        # The fixed bearer token ARM calls must carry, besides those issued here; None: any non-empty token.
        self.token = token
        # Tokens issue_token handed out, and when (on the fake's clock) each expires.
        self.issued: dict[str, float] = {}
        self.deployments: dict[str, FakeDeployment] = {}
        self.operations: dict[str, FakeDeployment] = {}
        self.pending_failures: deque[tuple[str, str]] = deque()

    def fail_next(self, code: str, message: str) -> None:
        """The next deployment created ends in provisioningState Failed with this error."""
        self.pending_failures.append((code, message))

    def issue_token(self, ttl_s: float) -> dict[str, Any]:
        """A bearer token ARM accepts for `ttl_s` seconds, in the shape of an OAuth token response."""
        token = f"fake-arm-{uuid.uuid4().hex}"
        expires_on = self.clock() + ttl_s
        self.issued[token] = expires_on
        return {"access_token": token, "token_type": "Bearer", "expires_on": int(expires_on)}

    def check_token(self, authorization: str) -> None:
        scheme, _sep, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        expires_on = self.issued.get(token)
        if expires_on is not None:
            now = self.clock()
            if now >= expires_on:
                raise ArmError(
                    401,
                    "ExpiredAuthenticationToken",
                    f"The access token expiry UTC time '{_utc(expires_on)}' is earlier than current UTC time "
                    f"'{_utc(now)}'.",
                )
            return
        if self.token is not None and token != self.token:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid or has expired.")

    def _owned(self, scope: Scope, name: str) -> FakeDeployment:
        deployment = self.deployments.get(name)
        if deployment is None or deployment.scope != scope:
            raise _not_found(name)
        return deployment

    def put(
        self, scope: Scope, name: str, body: Mapping[str, Any], is_fine_tuned: Callable[[str], bool]
    ) -> tuple[int, FakeDeployment]:
        """Create or update a deployment; (201 or 200, the deployment), or an ArmError like Azure's."""
        if not _VALID_NAME.match(name):
            raise ArmError(
                400,
                "InvalidResourceName",
                f"Resource name {name} is invalid. The name can be up to 64 characters long and can contain "
                "alphanumeric characters, '-', '_' and '.', starting with an alphanumeric character.",
            )
        sku = body.get("sku")
        properties = body.get("properties")
        model = properties.get("model") if isinstance(properties, dict) else None
        if not isinstance(sku, dict) or not sku.get("name"):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid: 'sku.name' is required.")
        if not isinstance(model, dict) or model.get("format") != "OpenAI" or not model.get("name"):
            raise ArmError(
                400,
                "InvalidRequestContent",
                "The request content was invalid: 'properties.model' needs format 'OpenAI', a name and a version.",
            )
        name_of_model = str(model["name"])
        if not is_fine_tuned(name_of_model):
            raise ArmError(
                400,
                "DeploymentModelNotSupported",
                f"The model '{name_of_model}' of format 'OpenAI' and version '{model.get('version')}' is not "
                "supported or does not exist in this resource.",
            )
        existing = self.deployments.get(name)
        if existing is not None and existing.scope != scope:
            raise ArmError(409, "Conflict", f"Deployment '{name}' belongs to another account.")
        now = self.clock()
        failure = self.pending_failures.popleft() if self.pending_failures else None
        deployment = FakeDeployment(
            scope=scope,
            name=name,
            model=name_of_model,
            sku=str(sku["name"]),
            capacity=sku.get("capacity"),
            created_at=now,
            ready_at=now + self.provisioning_s,
            operation_id=uuid.uuid4().hex,
            failure=failure,
        )
        self.deployments[name] = deployment
        self.operations[deployment.operation_id] = deployment
        return (200 if existing else 201), deployment

    def get(self, scope: Scope, name: str) -> dict[str, Any]:
        return self._owned(scope, name).to_api(self.clock())

    def list(self, scope: Scope) -> dict[str, Any]:
        now = self.clock()
        return {"value": [d.to_api(now) for d in self.deployments.values() if d.scope == scope]}

    def delete(self, scope: Scope, name: str) -> int:
        """200 when a deployment was deleted, 204 when there was none (ARM's answers)."""
        deployment = self.deployments.get(name)
        if deployment is None or deployment.scope != scope:
            return 204
        del self.deployments[name]
        return 200

    def operation(self, operation_id: str) -> dict[str, Any]:
        """The Azure-AsyncOperation status of a create: InProgress, Succeeded, or Failed with its error."""
        deployment = self.operations.get(operation_id)
        if deployment is None:
            raise ArmError(404, "OperationNotFound", f"Operation '{operation_id}' not found.")
        state = deployment.state_at(self.clock())
        status: dict[str, Any] = {
            "id": operation_id,
            "name": operation_id,
            "status": "InProgress" if state == "Creating" else state,
        }
        if state == "Failed" and deployment.failure:
            status["error"] = {"code": deployment.failure[0], "message": deployment.failure[1]}
        return status

    def serving(self, name: str) -> FakeDeployment | None:
        """The deployment chat requests to `name` reach: None when there is none; 404 while it provisions."""
        deployment = self.deployments.get(name)
        if deployment is None:
            return None
        if deployment.state_at(self.clock()) != "Succeeded":
            raise deployment_not_found()
        return deployment
