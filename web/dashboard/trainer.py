"""Trainer pages: sites with their datasets, a site's proposal and Start form, a run's live status,
events, error and metrics, deployments with Deploy and Roll back, and metrics over time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import User
from lab.training import deploy, overview, runs
from lab.training.limits import PROVIDERS
from web.api.training import (
    HyperparametersIn,
    cancel_training_run,
    deploy_training_run,
    rollback_site,
    start_training_run,
)
from web.auth import reader_guard, trainer_guard
from web.services import Services, ServicesDep

SPARK_WIDTH = 160
SPARK_HEIGHT = 32
# Runs listed on the training overview, and on a site's page.
RECENT_RUNS = 15
SITE_RUNS = 20


def sparkline(values: Sequence[float], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> str:
    """SVG polyline points for values in [0, 1], oldest at the left (empty for fewer than two values)."""
    if len(values) < 2:
        return ""
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - 2 - v * (height - 4):.1f}" for i, v in enumerate(values))


def _form_hyperparameters(form: dict[str, str]) -> HyperparametersIn:
    """The Start form's hyperparameters: each `auto` or a number (ValidationError names the field)."""

    def value(name: str) -> str | int | float:
        raw = form.get(name, "auto").strip() or "auto"
        if raw == "auto":
            return raw
        try:
            return int(raw)
        except ValueError:
            try:
                return float(raw)
            except ValueError:
                return raw

    return HyperparametersIn.model_validate(
        {name: value(name) for name in ("n_epochs", "batch_size", "learning_rate_multiplier")}
    )


async def _site_live_context(s: AsyncSession, site: str, user: User) -> dict[str, Any]:
    """What a site's page shows that training changes: its runs, deployments, metrics and advice."""
    site_runs = await runs.list_runs(s, site, limit=SITE_RUNS)
    metrics = await overview.metrics_over_time(s, site)
    latest = next((r for r in site_runs if r.status == "succeeded"), None)
    latest_view = await runs.run_view(s, latest.id) if latest else None
    active = await deploy.active_deployment(s, site)
    history = await deploy.deployment_history(s, site)
    return {
        "site": site,
        "runs": site_runs,
        "active": active,
        "history": history,
        # Deployment id -> the Azure deployment its model is called through (ARM settings only).
        "serving": await deploy.serving_names(s, [*history, *([active] if active else [])]),
        "metrics": metrics,
        "spark": sparkline([m.step_success for m in metrics]),
        "latest_evaluation": latest_view.evaluation if latest_view else None,
        "user": user,
    }


async def _site_context(
    services: Services, site: str, user: User, provider: str | None = None, model: str | None = None
) -> dict[str, Any]:
    async with services.db.session() as s:
        try:
            proposal = await runs.propose_run(s, site, services.settings, provider=provider, model=model)
        except runs.RunRefused as exc:
            raise HTTPException(exc.message, status_code=HTTP_422_UNPROCESSABLE_ENTITY) from exc
        live = await _site_live_context(s, site, user)
    return {
        **live,
        "proposal": proposal,
        "counts": proposal.dataset.counts(),
        "providers": PROVIDERS,
        "error": None,
        "values": None,
    }


async def _overview_context(services: Services) -> dict[str, Any]:
    async with services.db.session() as s:
        sites = await overview.site_overviews(s)
        recent = await runs.list_runs(s, limit=RECENT_RUNS)
    sparks = {o.site: sparkline([m.step_success for m in o.metrics]) for o in sites}
    return {"sites": sites, "sparks": sparks, "recent": recent}


class TrainerController(Controller):
    path = "/training"
    guards = [reader_guard]
    include_in_schema = False

    @get("/")
    async def index(self, request: Request[User, Any, Any], services: ServicesDep) -> Template:
        return Template("trainer.html", context={**await _overview_context(services), "user": request.user})

    @get("/overview")
    async def site_rows(self, services: ServicesDep) -> Template:
        """The sites table's rows (the overview re-fetches them on live training events)."""
        return Template("partials/trainer_site_rows.html", context=await _overview_context(services))

    @get("/runs/rows")
    async def run_rows(self, services: ServicesDep, site: FromQuery[str | None] = None) -> Template:
        """A run list's rows: the latest runs, or one site's (pages re-fetch them on live training events)."""
        async with services.db.session() as s:
            recent = await runs.list_runs(s, site, limit=SITE_RUNS if site else RECENT_RUNS)
        return Template("partials/trainer_run_rows.html", context={"recent": recent})

    @get("/sites/{site:str}")
    async def site(
        self,
        request: Request[User, Any, Any],
        site: FromPath[str],
        services: ServicesDep,
        provider: FromQuery[str | None] = None,
        model: FromQuery[str | None] = None,
    ) -> Template:
        context = await _site_context(services, site, request.user, provider, model)
        return Template("trainer_site.html", context=context)

    @get("/sites/{site:str}/live")
    async def site_live(self, request: Request[User, Any, Any], site: FromPath[str], services: ServicesDep) -> Template:
        """The part of a site's page that training changes (re-fetched on live training events)."""
        async with services.db.session() as s:
            context = await _site_live_context(s, site, request.user)
        return Template("partials/trainer_site_live.html", context=context)

    @get("/sites/{site:str}/plan")
    async def plan(
        self,
        request: Request[User, Any, Any],
        site: FromPath[str],
        services: ServicesDep,
        provider: FromQuery[str | None] = None,
        model: FromQuery[str | None] = None,
    ) -> Template:
        """The Start form again for another provider or model (HTMX swaps it in place)."""
        context = await _site_context(services, site, request.user, provider, model)
        return Template("partials/trainer_plan.html", context=context)

    @post("/sites/{site:str}/runs", guards=[trainer_guard])
    async def start(
        self,
        request: Request[User, Any, Any],
        site: FromPath[str],
        data: URLEncodedBody[dict[str, str]],
        services: ServicesDep,
    ) -> Redirect | Template:
        provider = data.get("provider") or None
        model = (data.get("model") or "").strip() or None
        error: str | None = None
        try:
            chosen = _form_hyperparameters(data).to_lab()
            run = await start_training_run(services, site, request.user, provider, model, chosen)
        except ValidationError as exc:
            first = exc.errors()[0]
            error = f"{first['loc'][0]}: {first['msg']}"
        except runs.RunRefused as exc:
            error = exc.message
        if error is not None:
            context = await _site_context(services, site, request.user, provider, model)
            context.update(error=error, values=data)
            return Template("trainer_site.html", context=context, status_code=HTTP_422_UNPROCESSABLE_ENTITY)
        return Redirect(f"/training/runs/{run.id}", status_code=HTTP_303_SEE_OTHER)

    @post("/sites/{site:str}/rollback", guards=[trainer_guard])
    async def rollback(
        self, request: Request[User, Any, Any], site: FromPath[str], services: ServicesDep
    ) -> Redirect | Template:
        try:
            await rollback_site(services, site, request.user)
        except HTTPException as exc:
            context = await _site_context(services, site, request.user)
            context["error"] = exc.detail
            return Template("trainer_site.html", context=context, status_code=exc.status_code)
        return Redirect(f"/training/sites/{site}", status_code=HTTP_303_SEE_OTHER)

    @get("/runs/{run_id:uuid}")
    async def run(
        self, request: Request[User, Any, Any], run_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> Template:
        return Template("trainer_run.html", context=await _run_context(services, run_id, request.user))

    @get("/runs/{run_id:uuid}/status")
    async def run_status(
        self, request: Request[User, Any, Any], run_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> Template:
        """The live part of a run page (re-fetched on the run's live events; every 30 s until it finishes)."""
        return Template("partials/trainer_run_status.html", context=await _run_context(services, run_id, request.user))

    @post("/runs/{run_id:uuid}/cancel", guards=[trainer_guard])
    async def cancel(
        self, request: Request[User, Any, Any], run_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> Redirect | Template:
        try:
            await cancel_training_run(services, run_id, request.user)
        except HTTPException as exc:
            return await _run_page_error(services, run_id, request.user, exc)
        return Redirect(f"/training/runs/{run_id}", status_code=HTTP_303_SEE_OTHER)

    @post("/runs/{run_id:uuid}/deploy", guards=[trainer_guard])
    async def deploy(
        self, request: Request[User, Any, Any], run_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> Redirect | Template:
        try:
            await deploy_training_run(services, run_id, request.user)
        except HTTPException as exc:
            return await _run_page_error(services, run_id, request.user, exc)
        return Redirect(f"/training/runs/{run_id}", status_code=HTTP_303_SEE_OTHER)


async def _run_page_error(services: Services, run_id: uuid.UUID, user: User, exc: HTTPException) -> Template:
    context = await _run_context(services, run_id, user)
    context["error"] = exc.detail
    return Template("trainer_run.html", context=context, status_code=exc.status_code)


async def _run_context(services: Services, run_id: uuid.UUID, user: User) -> dict[str, Any]:
    async with services.db.session() as s:
        try:
            view = await runs.run_view(s, run_id)
        except LookupError as exc:
            raise NotFoundException(str(exc)) from exc
        active = await deploy.active_deployment(s, view.run.site)
    return {
        "view": view,
        "run": view.run,
        "evaluation": view.evaluation,
        "active": active,
        "user": user,
        "error": None,
    }
