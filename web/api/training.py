"""The trainer's API: site datasets and proposals, runs (start, follow, cancel), deployments
(deploy, roll back) and predictions of a site's active model."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ClientException, HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_502_BAD_GATEWAY,
)
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import Deployment, Evaluation, TrainingRun, TrainingRunEvent, User
from lab.training import deploy, overview, runs
from lab.training.dataset import build_site_dataset
from lab.training.finetune import Hyperparameters
from lab.training.providers import ProviderError
from web.auth import reader_guard, trainer_guard
from web.services import Services, ServicesDep
from workers.maintenance import kick_webhooks
from workers.training_tasks import start_run

# --- request bodies ---------------------------------------------------------------------------


class HyperparametersIn(BaseModel):
    """Ranges the fine-tuning API accepts (https://developers.openai.com/api/reference/resources/fine_tuning)."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: Annotated[int, Field(ge=1, le=50)] | Literal["auto"] = "auto"
    batch_size: Annotated[int, Field(ge=1, le=256)] | Literal["auto"] = "auto"
    learning_rate_multiplier: Annotated[float, Field(gt=0, le=10)] | Literal["auto"] = "auto"

    def to_lab(self) -> Hyperparameters:
        return Hyperparameters(self.n_epochs, self.batch_size, self.learning_rate_multiplier)


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str = Field(min_length=1, max_length=200)
    provider: Literal["openai", "azure", "compatible"] | None = None
    model: str | None = Field(default=None, min_length=1, max_length=200)
    hyperparameters: HyperparametersIn | None = None


class PageIn(BaseModel):
    url: str = Field(min_length=1, max_length=4000)
    title: str = Field(default="", max_length=500)
    outline: str = Field(default="", max_length=100_000)


class PredictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str = Field(min_length=1, max_length=200)
    page: PageIn
    goal: str = Field(default="", max_length=2000)
    screenshot: str | None = Field(default=None, description="the page as a data:image/webp;base64, URL")
    previous_actions: list[str] = Field(default_factory=list, max_length=200)


# --- responses --------------------------------------------------------------------------------


class RunErrorOut(BaseModel):
    code: str
    message: str
    param: str | None = None


class RunEventOut(BaseModel):
    id: int
    created_at: datetime
    level: str
    message: str
    data: dict[str, Any]


class EvaluationOut(BaseModel):
    model: str
    split: str
    action_accuracy: float
    element_accuracy: float
    step_success: float
    n_steps: int
    breakdown: dict[str, Any]
    compared_to: dict[str, Any]
    element_check: dict[str, Any]
    decision: dict[str, Any]
    suggestions: list[dict[str, Any]]
    created_at: datetime


class RunOut(BaseModel):
    id: uuid.UUID
    site: str
    provider: str
    model: str
    status: str
    hyperparameters: dict[str, Any]
    plan: dict[str, Any]
    dataset: dict[str, Any]
    training_file_id: str | None
    validation_file_id: str | None
    job_id: str | None
    fine_tuned_model: str | None
    trained_tokens: int | None
    error: RunErrorOut | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    events: list[RunEventOut] = Field(default_factory=list)
    evaluation: EvaluationOut | None = None


class DeploymentOut(BaseModel):
    id: int
    site: str
    provider: str
    model: str
    run_id: uuid.UUID | None
    active: bool
    reason: str
    deployed_at: datetime
    rolled_back_at: datetime | None
    # The Azure deployment the model is called through, when CodeSight made one (ARM settings).
    azure_deployment: str | None = None


class SiteDeploymentsOut(BaseModel):
    site: str
    active: DeploymentOut | None
    history: list[DeploymentOut]


class ProposalOut(BaseModel):
    site: str
    provider: str
    model: str
    dataset: dict[str, Any]
    plan: dict[str, Any]
    can_start: bool
    refusals: list[str]
    serving_note: str | None = None


class SiteOut(BaseModel):
    site: str
    sessions: int
    review: dict[str, int]
    accepted_sessions: int
    train_examples: int
    validation_examples: int
    latest_run: dict[str, Any] | None
    active_model: str | None
    latest_step_success: float | None


class MetricOut(BaseModel):
    at: datetime
    model: str
    run_id: str | None
    step_success: float
    action_accuracy: float
    element_accuracy: float
    n_steps: int
    base_step_success: float | None
    deployed_step_success: float | None


class ToolCallOut(BaseModel):
    name: str
    arguments: dict[str, Any]


class PredictOut(BaseModel):
    site: str
    model: str
    deployment_id: int
    tool_call: ToolCallOut | None
    content: str | None


def event_out(event: TrainingRunEvent) -> RunEventOut:
    assert event.id is not None
    return RunEventOut(
        id=event.id, created_at=event.created_at, level=event.level, message=event.message, data=event.data
    )


def evaluation_out(evaluation: Evaluation) -> EvaluationOut:
    return EvaluationOut.model_validate(evaluation, from_attributes=True)


def run_out(
    run: TrainingRun, events: list[TrainingRunEvent] | None = None, evaluation: Evaluation | None = None
) -> RunOut:
    error = (
        RunErrorOut(code=run.error_code, message=run.error_message or "", param=run.error_param)
        if run.error_code
        else None
    )
    return RunOut(
        id=run.id,
        site=run.site,
        provider=run.provider,
        model=run.model,
        status=run.status,
        hyperparameters=run.hyperparameters,
        plan=run.plan,
        dataset={k: v for k, v in run.dataset.items() if k in ("counts", "train_report", "validation_report")},
        training_file_id=run.training_file_id,
        validation_file_id=run.validation_file_id,
        job_id=run.job_id,
        fine_tuned_model=run.fine_tuned_model,
        trained_tokens=run.trained_tokens,
        error=error,
        created_at=run.created_at,
        updated_at=run.updated_at,
        finished_at=run.finished_at,
        events=[event_out(e) for e in events or []],
        evaluation=evaluation_out(evaluation) if evaluation else None,
    )


def deployment_out(deployment: Deployment, azure_deployment: str | None = None) -> DeploymentOut:
    assert deployment.id is not None
    out = DeploymentOut.model_validate(deployment, from_attributes=True)
    out.azure_deployment = azure_deployment
    return out


def refused(error: runs.RunRefused) -> ClientException:
    return ClientException(
        detail=error.message, status_code=HTTP_422_UNPROCESSABLE_ENTITY, extra={"field": error.field}
    )


# --- shared by the API and the dashboard ------------------------------------------------------


async def start_training_run(
    services: Services, site: str, user: User, provider: str | None, model: str | None, chosen: Hyperparameters | None
) -> TrainingRun:
    """Propose, record and defer a run; RunRefused with every reason when it cannot start."""
    async with services.db.session() as s:
        proposal = await runs.propose_run(s, site, services.settings, provider=provider, model=model)
        run = await runs.create_run(s, proposal, hyperparameters=chosen, created_by=user.id)
    await start_run(services.queue, run.id)
    return run


async def deploy_training_run(services: Services, run_id: uuid.UUID, user: User) -> Deployment:
    """A trainer's Deploy: the run's model becomes the site's active model."""
    async with services.db.session() as s:
        try:
            run = await runs.get_run(s, run_id)
        except LookupError as exc:
            raise NotFoundException(str(exc)) from exc
        try:
            deployment = await deploy.deploy_run(s, run, user.id, f"deployed by {user.name}")
        except ValueError as exc:
            raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from exc
        await _ensure_serving(s, services, deployment)
        await runs.add_event(s, run.id, f"Deployed {deployment.model} for {run.site} by {user.name}")
    await kick_webhooks(services.queue)  # model.deployed goes out now, not at the next minute's round
    return deployment


async def _ensure_serving(s: AsyncSession, services: Services, deployment: Deployment) -> None:
    """The model about to become active must be callable (its Azure deployment made again if it was
    deleted); 502 naming the provider's error otherwise, and nothing changes."""
    try:
        await deploy.ensure_serving(s, services.settings, deployment)
    except ProviderError as exc:
        raise HTTPException(
            f"the model's provider could not serve {deployment.model}: {exc}", status_code=HTTP_502_BAD_GATEWAY
        ) from exc


async def rollback_site(services: Services, site: str, user: User) -> Deployment:
    async with services.db.session() as s:
        try:
            previous = await deploy.rollback(s, site, user.id)
        except deploy.NoDeployment as exc:
            raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from exc
        await _ensure_serving(s, services, previous)
    await kick_webhooks(services.queue)
    return previous


async def cancel_training_run(services: Services, run_id: uuid.UUID, user: User) -> TrainingRun:
    try:
        run = await runs.cancel_run(services.db, services.settings, run_id, user.id)
    except LookupError as exc:
        raise NotFoundException(str(exc)) from exc
    except runs.RunConflict as exc:
        raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from exc
    await kick_webhooks(services.queue)  # training.run.cancelled
    return run


class TrainingController(Controller):
    """Sites' datasets, training runs and deployments."""

    path = "/api/v1/training"
    tags = ["training"]

    @get("/sites", guards=[reader_guard])
    async def sites(self, services: ServicesDep) -> list[SiteOut]:
        async with services.db.session() as s:
            return [SiteOut.model_validate(o.to_dict()) for o in await overview.site_overviews(s)]

    @get("/sites/{site:str}/proposal", guards=[reader_guard])
    async def proposal(
        self,
        site: FromPath[str],
        services: ServicesDep,
        provider: FromQuery[str | None] = None,
        model: FromQuery[str | None] = None,
    ) -> ProposalOut:
        """What a run of `site` would train on and with, before it starts (nothing is created)."""
        async with services.db.session() as s:
            try:
                proposal = await runs.propose_run(s, site, services.settings, provider=provider, model=model)
            except runs.RunRefused as exc:
                raise refused(exc) from exc
        return ProposalOut.model_validate(proposal.to_dict())

    @get("/sites/{site:str}/dataset/train.jsonl", guards=[trainer_guard], media_type="application/jsonl")
    async def train_jsonl(self, site: FromPath[str], services: ServicesDep) -> Response[str]:
        return await _dataset_file(services, site, "train")

    @get("/sites/{site:str}/dataset/validation.jsonl", guards=[trainer_guard], media_type="application/jsonl")
    async def validation_jsonl(self, site: FromPath[str], services: ServicesDep) -> Response[str]:
        return await _dataset_file(services, site, "validation")

    @get("/sites/{site:str}/metrics", guards=[reader_guard])
    async def metrics(self, site: FromPath[str], services: ServicesDep) -> list[MetricOut]:
        async with services.db.session() as s:
            return [MetricOut.model_validate(p.to_dict()) for p in await overview.metrics_over_time(s, site)]

    @get("/runs", guards=[reader_guard])
    async def list_runs(self, services: ServicesDep, site: FromQuery[str | None] = None) -> list[RunOut]:
        async with services.db.session() as s:
            return [run_out(run) for run in await runs.list_runs(s, site)]

    @post("/runs", guards=[trainer_guard], status_code=HTTP_201_CREATED)
    async def start(self, request: Request[User, Any, Any], data: JSONBody[RunIn], services: ServicesDep) -> RunOut:
        """Start a run of a site's dataset: 422 with every reason when it cannot (no accepted sessions,
        invalid examples, a provider that takes no new jobs)."""
        chosen = data.hyperparameters.to_lab() if data.hyperparameters else None
        try:
            run = await start_training_run(services, data.site, request.user, data.provider, data.model, chosen)
        except runs.RunRefused as exc:
            raise refused(exc) from exc
        return run_out(run)

    @get("/runs/{run_id:uuid}", guards=[reader_guard])
    async def get_run(self, run_id: FromPath[uuid.UUID], services: ServicesDep, after: FromQuery[int] = 0) -> RunOut:
        """The run with its events (those after event id `after`) and its evaluation."""
        async with services.db.session() as s:
            try:
                view = await runs.run_view(s, run_id)
            except LookupError as exc:
                raise NotFoundException(str(exc)) from exc
        return run_out(view.run, [e for e in view.events if (e.id or 0) > after], view.evaluation)

    @post("/runs/{run_id:uuid}/cancel", guards=[trainer_guard], status_code=200)
    async def cancel(
        self, request: Request[User, Any, Any], run_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> RunOut:
        """Cancel a run and its provider job; 409 when it has already finished."""
        return run_out(await cancel_training_run(services, run_id, request.user))

    @post("/runs/{run_id:uuid}/deploy", guards=[trainer_guard], status_code=200)
    async def deploy(
        self, request: Request[User, Any, Any], run_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> DeploymentOut:
        """Make the run's model the site's active model (whatever its evaluation said)."""
        return deployment_out(await deploy_training_run(services, run_id, request.user))

    @get("/deployments/{site:str}", guards=[reader_guard])
    async def deployments(self, site: FromPath[str], services: ServicesDep) -> SiteDeploymentsOut:
        async with services.db.session() as s:
            active = await deploy.active_deployment(s, site)
            history = await deploy.deployment_history(s, site)
            names = await deploy.serving_names(s, [*history, *([active] if active else [])])
        return SiteDeploymentsOut(
            site=site,
            active=deployment_out(active, names.get(active.id or 0)) if active else None,
            history=[deployment_out(d, names.get(d.id or 0)) for d in history],
        )

    @post("/deployments/{site:str}/rollback", guards=[trainer_guard], status_code=200)
    async def rollback(
        self, request: Request[User, Any, Any], site: FromPath[str], services: ServicesDep
    ) -> DeploymentOut:
        """Retire the active deployment; the one before it answers again. 409 when there is none."""
        return deployment_out(await rollback_site(services, site, request.user))


async def _dataset_file(services: Services, site: str, split: Literal["train", "validation"]) -> Response[str]:
    """A split of a site's dataset (accepted sessions only) as plain chat JSONL, for any trainer."""
    async with services.db.session() as s:
        dataset = await build_site_dataset(s, site, services.settings)
    if not dataset.splits:
        raise NotFoundException(f"site {site!r} has no accepted sessions")
    text = dataset.train_jsonl if split == "train" else dataset.validation_jsonl
    return Response(
        text,
        media_type="application/jsonl",
        headers={"Content-Disposition": f'attachment; filename="{site}-{split}.jsonl"'},
    )


class PredictController(Controller):
    path = "/api/v1/predict"
    tags = ["predict"]

    @post("/", guards=[reader_guard], status_code=200)
    async def predict(self, data: JSONBody[PredictIn], services: ServicesDep) -> PredictOut:
        """The next action from the site's active model; 409 when the site has no deployed model."""
        try:
            screenshot = deploy.decode_screenshot(data.screenshot) if data.screenshot else None
        except ValueError as exc:
            raise ClientException(str(exc), status_code=HTTP_422_UNPROCESSABLE_ENTITY) from exc
        page = deploy.PageIn(data.page.url, data.page.title, data.page.outline)
        async with services.db.session() as s:
            try:
                prediction = await deploy.predict(
                    s,
                    services.settings,
                    data.site,
                    page,
                    data.goal,
                    screenshot_webp=screenshot,
                    previous_actions=data.previous_actions,
                )
            except deploy.NoDeployment as exc:
                raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from exc
            except ProviderError as exc:
                raise HTTPException(f"the model's provider failed: {exc}", status_code=HTTP_502_BAD_GATEWAY) from exc
        call = (
            ToolCallOut(name=prediction.tool, arguments=dict(prediction.arguments or {})) if prediction.tool else None
        )
        return PredictOut(
            site=prediction.site,
            model=prediction.model,
            deployment_id=prediction.deployment_id,
            tool_call=call,
            content=prediction.content,
        )
