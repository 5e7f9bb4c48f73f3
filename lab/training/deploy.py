"""Deployments: which model answers for a site (at most one active per site), deploying a model,
rolling back to the previous one, and asking the active model for the next action.

Rolling back makes the deployment before the active one active again (deployments rolled back
are skipped), so repeated rollbacks walk back through the history.

On Azure with ARM settings a run's model is called through its own Azure deployment
(`codesight-<site>-<run>`), created when the run is evaluated (or again when it is deployed or
rolled back to after it was deleted) and recorded in the run's `plan` under `azure_deployment`;
predict calls the active model's deployment.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.config import Settings
from lab.db.models import Deployment, TrainingRun, utcnow
from lab.monitoring import webhooks
from lab.training.azure_arm import deployment_name
from lab.training.examples import TOOLS, ActionStep, PageContext, build_example
from lab.training.live import deployment_changed
from lab.training.providers import FineTuneProvider, ModelReply
from lab.training.runs import add_event, provider_for

log = structlog.get_logger(__name__)

WEBP_DATA_URL = "data:image/webp;base64,"


# Where a run keeps the Azure deployment of its model (TrainingRun.plan is JSON).
AZURE_DEPLOYMENT_KEY = "azure_deployment"


class NoDeployment(LookupError):
    """The site has no active model (or no earlier one to roll back to)."""


# --- what a model is called through -----------------------------------------------------------


def run_deployment_name(run: TrainingRun) -> str | None:
    """The Azure deployment recorded with a run, if one was made for its model."""
    record = run.plan.get(AZURE_DEPLOYMENT_KEY)
    return str(record["name"]) if isinstance(record, dict) and record.get("name") else None


def record_run_deployment(run: TrainingRun, name: str, model: str) -> None:
    """Keep the name of the Azure deployment made for the run's model with the run."""
    record = {"name": name, "model": model, "ready_at": utcnow().isoformat()}
    run.plan = {**run.plan, AZURE_DEPLOYMENT_KEY: record}


async def serving_names(s: AsyncSession, deployments: Sequence[Deployment]) -> dict[int, str]:
    """Deployment row id -> the Azure deployment its model is called through (rows without one left out)."""
    run_ids = {d.run_id for d in deployments if d.run_id is not None}
    if not run_ids:
        return {}
    rows = (await s.exec(select(TrainingRun).where(col(TrainingRun.id).in_(run_ids)))).all()
    names = {run.id: name for run in rows if (name := run_deployment_name(run))}
    return {d.id: names[d.run_id] for d in deployments if d.id is not None and d.run_id in names}


async def make_run_servable(provider: FineTuneProvider, run: TrainingRun) -> str:
    """Make the run's model callable (on Azure with ARM: its own deployment, created or reused and
    recorded with the run, which the caller saves); what `respond` must be given to run it."""
    if not run.fine_tuned_model:
        raise ValueError(f"run {run.id} has no fine-tuned model to serve (status {run.status})")
    name = run_deployment_name(run) or deployment_name(run.site, run.id)
    target = await provider.ensure_deployment(run.fine_tuned_model, name)
    if target == name:
        record_run_deployment(run, name, run.fine_tuned_model)
    return target


async def ensure_serving(s: AsyncSession, settings: Settings, deployment: Deployment) -> str | None:
    """Before a deployment row becomes active: make its run's model callable (its Azure deployment
    may have been deleted since); the Azure deployment's name, or None when there is none."""
    if deployment.run_id is None or deployment.provider != "azure":
        return None  # only Azure calls a model through a deployment of its own
    run = await s.get(TrainingRun, deployment.run_id)
    if run is None or not run.fine_tuned_model:
        return None
    provider = provider_for(settings, deployment.provider, per_model=True)
    try:
        target = await make_run_servable(provider, run)
    finally:
        await provider.aclose()
    if target == run.fine_tuned_model:
        return None
    s.add(run)
    await s.flush()
    await add_event(s, run.id, f"Azure deployment {target} of {run.fine_tuned_model} is ready to serve {run.site}")
    return target


async def _lock_site(s: AsyncSession, site: str) -> None:
    """Serialize deployment changes of one site for the rest of the transaction."""
    await s.exec(select(func.pg_advisory_xact_lock(func.hashtext(f"deployments:{site}"))))


async def active_deployment(s: AsyncSession, site: str) -> Deployment | None:
    return (await s.exec(select(Deployment).where(Deployment.site == site, col(Deployment.active)))).first()


async def deployment_history(s: AsyncSession, site: str, limit: int = 20) -> list[Deployment]:
    rows = await s.exec(
        select(Deployment)
        .where(Deployment.site == site)
        .order_by(col(Deployment.deployed_at).desc(), col(Deployment.id).desc())
        .limit(limit)
    )
    return list(rows.all())


async def deploy_model(
    s: AsyncSession,
    site: str,
    provider: str,
    model: str,
    *,
    run_id: uuid.UUID | None = None,
    deployed_by: uuid.UUID | None = None,
    reason: str = "",
) -> Deployment:
    """Make `model` the site's active model; the one serving until now stays in the history."""
    await _lock_site(s, site)
    current = await active_deployment(s, site)
    if current is not None:
        current.active = False
        s.add(current)
        await s.flush()
        await deployment_changed(s, current)
    deployment = Deployment(
        site=site, provider=provider, model=model, run_id=run_id, active=True, reason=reason, deployed_by=deployed_by
    )
    s.add(deployment)
    await s.flush()
    await deployment_changed(s, deployment)
    assert deployment.id is not None
    await webhooks.model_deployed(s, str(deployment.id), site, model, run_id)
    log.info("training.deployed", site=site, model=model, run_id=str(run_id) if run_id else None, reason=reason)
    return deployment


async def deploy_run(s: AsyncSession, run: TrainingRun, deployed_by: uuid.UUID | None, reason: str) -> Deployment:
    """Deploy the model a run trained; ValueError when it has none."""
    if not run.fine_tuned_model:
        raise ValueError(f"run {run.id} has no fine-tuned model to deploy (status {run.status})")
    return await deploy_model(
        s, run.site, run.provider, run.fine_tuned_model, run_id=run.id, deployed_by=deployed_by, reason=reason
    )


async def rollback(s: AsyncSession, site: str, by: uuid.UUID | None = None) -> Deployment:
    """Retire the active deployment and make the one before it active again; NoDeployment when
    there is no active deployment or nothing earlier to go back to."""
    await _lock_site(s, site)
    current = await active_deployment(s, site)
    if current is None:
        raise NoDeployment(f"site {site!r} has no deployed model to roll back")
    previous = (
        await s.exec(
            select(Deployment)
            .where(
                Deployment.site == site,
                col(Deployment.id) != current.id,
                col(Deployment.rolled_back_at).is_(None),
                col(Deployment.deployed_at) <= current.deployed_at,
            )
            .order_by(col(Deployment.deployed_at).desc(), col(Deployment.id).desc())
        )
    ).first()
    if previous is None:
        raise NoDeployment(f"site {site!r} has no earlier deployment to roll back to (active: {current.model})")
    current.active = False
    current.rolled_back_at = utcnow()
    current.rolled_back_by = by
    s.add(current)
    await s.flush()
    previous.active = True
    s.add(previous)
    await s.flush()
    await deployment_changed(s, current)
    await deployment_changed(s, previous)
    await webhooks.model_deployed(
        s, f"{previous.id}:restored:{current.id}", site, previous.model, previous.run_id, rolled_back=current.model
    )
    log.info("training.rolled_back", site=site, from_model=current.model, to_model=previous.model)
    return previous


# --- predict --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageIn:
    url: str
    title: str = ""
    outline: str = ""


@dataclass(frozen=True)
class Prediction:
    site: str
    model: str
    deployment_id: int
    tool: str | None
    arguments: Mapping[str, Any] | None
    content: str | None


def decode_screenshot(data_url: str) -> bytes:
    """The bytes of a `data:image/webp;base64,` screenshot; ValueError naming the field otherwise."""
    if not data_url.startswith(WEBP_DATA_URL):
        raise ValueError("screenshot: must be a data:image/webp;base64, URL")
    try:
        return base64.b64decode(data_url[len(WEBP_DATA_URL) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("screenshot: not valid base64") from exc


def prompt_messages(
    site: str,
    page: PageIn,
    goal: str,
    screenshot_webp: bytes | None = None,
    previous_actions: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The system and user turns a trained model expects, exactly as training examples write them
    (the example builder writes them; the assistant half it also writes is dropped)."""
    placeholder = ActionStep(
        seq=0,
        step_number=len(previous_actions) + 1,
        action="navigate",
        page=PageContext(url=page.url, title=page.title, outline=page.outline),
        url=page.url,
        screenshot_webp=screenshot_webp,
        previous_actions=tuple(previous_actions),
    )
    messages: list[dict[str, Any]] = build_example(site, placeholder, goal)["messages"]
    return [m for m in messages if m["role"] != "assistant"]


def prediction_from_reply(site: str, deployment: Deployment, reply: ModelReply) -> Prediction:
    assert deployment.id is not None
    call = reply.tool_calls[0] if reply.tool_calls else None
    arguments: Mapping[str, Any] | None = None
    if call is not None:
        try:
            parsed = json.loads(call.arguments)
        except json.JSONDecodeError:
            parsed = {"raw": call.arguments}
        arguments = parsed if isinstance(parsed, dict) else {"raw": parsed}
    return Prediction(site, deployment.model, deployment.id, call.name if call else None, arguments, reply.content)


async def predict(
    s: AsyncSession,
    settings: Settings,
    site: str,
    page: PageIn,
    goal: str,
    *,
    screenshot_webp: bytes | None = None,
    previous_actions: Sequence[str] = (),
) -> Prediction:
    """The next action the site's active model proposes; NoDeployment when the site has none."""
    deployment = await active_deployment(s, site)
    if deployment is None:
        raise NoDeployment(
            f"site {site!r} has no deployed model: train one under Training and deploy it (or wait for a run "
            "that beats the base model to deploy itself)"
        )
    assert deployment.id is not None
    name = (await serving_names(s, [deployment])).get(deployment.id)
    provider = provider_for(settings, deployment.provider)
    try:
        reply = await provider.respond(
            provider.serving_target(deployment.model, name),
            prompt_messages(site, page, goal, screenshot_webp, previous_actions),
            TOOLS,
        )
    finally:
        await provider.aclose()
    return prediction_from_reply(site, deployment, reply)
