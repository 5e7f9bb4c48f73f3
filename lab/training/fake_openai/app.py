"""The HTTP edge of the local OpenAI-compatible server: OpenAI's paths and Azure OpenAI's.

OpenAI: `/v1/files`, `/v1/fine_tuning/jobs[...]`, `/v1/chat/completions`, `/v1/models`, with
`Authorization: Bearer <anything>`. Azure: the same under `/openai/...`, chat at
`/openai/deployments/{deployment}/chat/completions`, every request with `?api-version=` and an
`api-key` header. Errors come back in OpenAI's shape. Azure Resource Manager: deployments under
`/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{account}/
deployments/{name}` with `?api-version=` and a bearer token (`arm.py`), errors in ARM's shape.
`/_fake/...` steers the server (faults, deployments, ARM tokens that expire) and is unauthenticated:
this server is for loopback tests and demos only.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

import structlog
from litestar import Controller, Litestar, MediaType, Request, Response, delete, get, post, put
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody, QueryParameter

from lab.training.fake_openai.arm import LOCATION, ArmError, Scope
from lab.training.fake_openai.errors import ApiError
from lab.training.fake_openai.jobs import Flavour
from lab.training.fake_openai.requests import (
    ArmTokenIn,
    ChatRequest,
    DeploymentIn,
    FaultIn,
    FileUpload,
    JobCreate,
    check_messages,
)
from lab.training.fake_openai.state import FakeOpenAI
from lab.training.limits import OPENAI_LIMITS

log = structlog.get_logger(__name__)
# Room for a maximal fine-tuning file plus the multipart framing around it.
MAX_REQUEST_BYTES = OPENAI_LIMITS.max_file_bytes + 1024 * 1024
# How Litestar words a missing multipart field.
_MISSING_FIELD = re.compile(r"missing required field `(\w+)`")
# Pydantic names the union branch it tried last (`n_epochs.int`); the caller only knows the field.
_UNION_BRANCH = re.compile(r"(\.(int|float|str|literal\[[^\]]*\]))+$")


# How a route handler asks for the fake's state: `fake: FakeDep`.
FakeDep = NamedDependency[FakeOpenAI]


def provide_fake(state: State) -> FakeOpenAI:
    fake: FakeOpenAI = state.fake
    return fake


# --- auth guards ----------------------------------------------------------------------------


def openai_auth(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """OpenAI paths need `Authorization: Bearer <non-empty key>`; any key will do."""
    scheme, _sep, key = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )


def azure_auth(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Azure paths need `?api-version=` and an `api-key` header (or an Entra ID bearer token)."""
    if not connection.query_params.get("api-version"):
        raise ApiError(
            400,
            "The api-version query parameter (?api-version=) is required for all requests.",
            param="api-version",
            code="MissingApiVersionParameter",
        )
    scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
    if not connection.headers.get("api-key", "").strip() and not (scheme.lower() == "bearer" and token.strip()):
        raise ApiError(
            401,
            "Access denied due to missing subscription key. Make sure to include subscription key when making "
            "requests to an API.",
            param="api-key",
            code="401",
        )


def arm_auth(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """ARM paths need `?api-version=` and the bearer token the fake expects (any, unless it was given one)."""
    if not connection.query_params.get("api-version"):
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    fake: FakeOpenAI = connection.app.state.fake
    fake.arm.check_token(connection.headers.get("authorization", ""))


# --- controllers: one per resource, the Azure variant only moves the path and the guard -----------


class OpenAIFiles(Controller):
    path = "/v1/files"
    guards = [openai_auth]
    flavour: Flavour = "openai"

    @post("/", status_code=200)
    async def upload(self, data: MultipartBody[FileUpload], fake: FakeDep) -> dict[str, Any]:
        content = await data.file.read()
        return fake.upload(self.flavour, data.file.filename, data.purpose, content).to_api()

    @get("/{file_id:str}")
    async def retrieve(self, file_id: FromPath[str], fake: FakeDep) -> dict[str, Any]:
        return fake.file(self.flavour, file_id).to_api()

    @get("/{file_id:str}/content", media_type=MediaType.TEXT)
    async def content(self, file_id: FromPath[str], fake: FakeDep) -> bytes:
        return fake.file(self.flavour, file_id).content


class AzureFiles(OpenAIFiles):
    path = "/openai/files"
    guards = [azure_auth]
    flavour = "azure"


class OpenAIJobs(Controller):
    path = "/v1/fine_tuning/jobs"
    guards = [openai_auth]
    flavour: Flavour = "openai"

    @post("/", status_code=200)
    async def create(self, data: JSONBody[JobCreate], fake: FakeDep) -> dict[str, Any]:
        job = fake.create_job(
            self.flavour,
            data.model,
            data.training_file,
            data.validation_file,
            data.requested_hyperparameters(),
            data.suffix,
            data.seed,
        )
        log.info("fake_openai.job_created", job_id=job.id, flavour=self.flavour, model=job.model)
        return fake.job_view(job)

    @get("/")
    async def list_jobs(
        self,
        fake: FakeDep,
        after: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        return fake.list_jobs(self.flavour, after, limit)

    @get("/{job_id:str}")
    async def retrieve(self, job_id: FromPath[str], fake: FakeDep) -> dict[str, Any]:
        return fake.job_view(fake.job(self.flavour, job_id))

    @get("/{job_id:str}/events")
    async def events(
        self,
        job_id: FromPath[str],
        fake: FakeDep,
        after: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        return fake.list_events(self.flavour, job_id, after, limit)

    @post("/{job_id:str}/cancel", status_code=200)
    async def cancel(self, job_id: FromPath[str], fake: FakeDep) -> dict[str, Any]:
        return fake.job_view(fake.cancel(self.flavour, job_id))


class AzureJobs(OpenAIJobs):
    path = "/openai/fine_tuning/jobs"
    guards = [azure_auth]
    flavour = "azure"


class OpenAIModels(Controller):
    path = "/v1/models"
    guards = [openai_auth]
    flavour: Flavour = "openai"

    @get("/")
    async def list_models(self, fake: FakeDep) -> dict[str, Any]:
        return fake.models(self.flavour)


class AzureModels(OpenAIModels):
    path = "/openai/models"
    guards = [azure_auth]
    flavour = "azure"


@post("/v1/chat/completions", guards=[openai_auth], status_code=200)
async def openai_chat(data: JSONBody[ChatRequest], fake: FakeDep) -> dict[str, Any]:
    if not data.model:
        raise ApiError(400, "you must provide a model parameter", param="model")
    check_messages(data.messages)
    return fake.complete("openai", data.model, data.messages, data.tools, data.response_format)


@post("/openai/deployments/{deployment:str}/chat/completions", guards=[azure_auth], status_code=200)
async def azure_chat(deployment: FromPath[str], data: JSONBody[ChatRequest], fake: FakeDep) -> dict[str, Any]:
    check_messages(data.messages)
    return fake.complete("azure", fake.deployment_model(deployment), data.messages, data.tools, data.response_format)


class AzureManagement(Controller):
    """Azure Resource Manager's deployments of an Azure OpenAI resource (the control plane)."""

    path = (
        "/subscriptions/{subscription_id:str}/resourceGroups/{resource_group:str}"
        "/providers/Microsoft.CognitiveServices/accounts/{account:str}/deployments"
    )
    guards = [arm_auth]

    @get("/")
    async def list_deployments(
        self, subscription_id: FromPath[str], resource_group: FromPath[str], account: FromPath[str], fake: FakeDep
    ) -> dict[str, Any]:
        return fake.arm.list(Scope(subscription_id, resource_group, account))

    @get("/{deployment:str}")
    async def get_deployment(
        self,
        subscription_id: FromPath[str],
        resource_group: FromPath[str],
        account: FromPath[str],
        deployment: FromPath[str],
        fake: FakeDep,
    ) -> dict[str, Any]:
        return fake.arm.get(Scope(subscription_id, resource_group, account), deployment)

    @put("/{deployment:str}")
    async def put_deployment(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[str],
        resource_group: FromPath[str],
        account: FromPath[str],
        deployment: FromPath[str],
        data: JSONBody[dict[str, Any]],
        fake: FakeDep,
    ) -> Response[dict[str, Any]]:
        status, made = fake.arm.put(
            Scope(subscription_id, resource_group, account),
            deployment,
            data,
            lambda model: fake.is_fine_tuned("azure", model),
        )
        operation = (
            f"{request.base_url}subscriptions/{subscription_id}/providers/Microsoft.CognitiveServices"
            f"/locations/{LOCATION}/operationResults/{made.operation_id}?api-version="
            f"{request.query_params.get('api-version')}"
        )
        log.info("fake_openai.arm_deployment", deployment=deployment, model=made.model, status=status)
        return Response(made.to_api(fake.clock()), status_code=status, headers={"Azure-AsyncOperation": operation})

    @delete("/{deployment:str}", status_code=200)
    async def delete_deployment(
        self,
        subscription_id: FromPath[str],
        resource_group: FromPath[str],
        account: FromPath[str],
        deployment: FromPath[str],
        fake: FakeDep,
    ) -> Response[None]:
        status = fake.arm.delete(Scope(subscription_id, resource_group, account), deployment)
        return Response(None, status_code=status)


@get(
    "/subscriptions/{subscription_id:str}/providers/Microsoft.CognitiveServices/locations/{location:str}"
    "/operationResults/{operation_id:str}",
    guards=[arm_auth],
)
async def arm_operation(
    subscription_id: FromPath[str], location: FromPath[str], operation_id: FromPath[str], fake: FakeDep
) -> dict[str, Any]:
    """The Azure-AsyncOperation status of a deployment's creation."""
    return fake.arm.operation(operation_id)


class FakeControl(Controller):
    """Steering for tests and demos: inject faults, create Azure deployments, issue ARM tokens."""

    path = "/_fake"

    @post("/faults", status_code=200)
    async def add_faults(self, data: JSONBody[FaultIn], fake: FakeDep) -> dict[str, Any]:
        fake.inject(data.status, data.count, data.retry_after_s, data.path_prefix)
        return {"pending": len(fake.pending_faults)}

    @get("/faults")
    async def faults(self, fake: FakeDep) -> dict[str, Any]:
        return {
            "pending": [vars(f) for f in fake.pending_faults],
            "served": [vars(f) for f in fake.served_faults],
        }

    @delete("/faults", status_code=200)
    async def clear_faults(self, fake: FakeDep) -> dict[str, Any]:
        fake.pending_faults.clear()
        return {"pending": 0}

    @post("/deployments", status_code=200)
    async def add_deployment(self, data: JSONBody[DeploymentIn], fake: FakeDep) -> dict[str, Any]:
        fake.deploy(data.name, data.model)
        return {"name": data.name, "model": data.model}

    @post("/arm-token", status_code=200)
    async def arm_token(self, data: JSONBody[ArmTokenIn], fake: FakeDep) -> dict[str, Any]:
        """A bearer token ARM paths accept until `ttl_s` seconds from now (Entra ID's part, played by the fake)."""
        return fake.arm.issue_token(data.ttl_s)


# --- faults and errors ----------------------------------------------------------------------


async def inject_fault(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Answer with the next injected fault for this path, if there is one."""
    fake: FakeOpenAI = request.app.state.fake
    fault = fake.take_fault(request.method, request.url.path)
    if fault is None:
        return None
    log.info("fake_openai.fault", status=fault.status, method=request.method, path=request.url.path)
    if fault.status == 429:
        error = ApiError(
            429,
            "Rate limit reached for requests. Please try again later.",
            type="requests",
            code="rate_limit_exceeded",
        )
        if fault.retry_after_s is not None:
            error.headers = {
                "retry-after": str(math.ceil(fault.retry_after_s)),
                "retry-after-ms": str(round(fault.retry_after_s * 1000)),
            }
    else:
        error = ApiError(
            fault.status,
            "The server had an error while processing your request. Sorry about that!",
            type="server_error",
        )
    return on_api_error(request, error)


def on_api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    return Response(exc.body(), status_code=exc.status_code, headers=exc.headers, media_type=MediaType.JSON)


def on_validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar's 400s (missing fields, wrong types, out-of-range values) in OpenAI's shape, naming the field."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    first = problems[0] if problems and isinstance(problems[0], dict) else {}
    param, detail = first.get("key") or None, str(first.get("message") or exc.detail)
    if param:
        param = _UNION_BRANCH.sub("", param)
    if missing := _MISSING_FIELD.search(detail):
        param = missing.group(1)
    if param and (missing or detail == "Field required"):
        message = f"Missing required parameter: '{param}'."
    elif param:
        message = f"Invalid value for '{param}': {detail.removeprefix('Value error, ')}"
    else:
        message = detail
    return on_api_error(request, ApiError(400, message, param=param))


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    not_routed = exc.status_code == 404
    message = f"Invalid URL ({request.method} {request.url.path})" if not_routed else str(exc.detail)
    return on_api_error(request, ApiError(exc.status_code, message))


def on_server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A bug in the fake: logged with its context, answered like OpenAI's own 500."""
    log.exception("fake_openai.unhandled", path=request.url.path, method=request.method)
    return on_api_error(request, ApiError(500, f"The fake server failed: {exc!r}", type="server_error"))


def create_fake_openai_app(fake: FakeOpenAI | None = None) -> Litestar:
    """The Litestar app over `fake` (a fresh state by default)."""
    return Litestar(
        route_handlers=[
            OpenAIFiles,
            AzureFiles,
            OpenAIJobs,
            AzureJobs,
            OpenAIModels,
            AzureModels,
            openai_chat,
            azure_chat,
            AzureManagement,
            arm_operation,
            FakeControl,
        ],
        dependencies={"fake": Provide(provide_fake, sync_to_thread=False)},
        state=State({"fake": fake or FakeOpenAI()}),
        before_request=inject_fault,
        exception_handlers={
            ApiError: on_api_error,
            ValidationException: on_validation_error,
            HTTPException: on_http_error,
            Exception: on_server_error,
        },
        request_max_body_size=MAX_REQUEST_BYTES,
        openapi_config=None,
        logging_config=None,
    )
