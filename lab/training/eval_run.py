"""Evaluating a run's fine-tuned model at the edge: load its held-out steps, ask the fine-tuned,
base and deployed models for each, check elements on stored DOM snapshots, score (pure, in
`lab.training.evaluate`), store the evaluation, suggest data when it falls short, and deploy it
when it beats the base and deployed models.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from playwright.async_api import Browser
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.capture.media import inflate_snapshot
from lab.config import Settings
from lab.db.engine import Database
from lab.db.models import FINAL_RUN_STATUSES, Evaluation, Event, TrainingExample, TrainingRun, utcnow
from lab.storage.blobs import BlobStore
from lab.training import deploy, dom_check, runs
from lab.training.evaluate import (
    ELEMENT_ACTIONS,
    Call,
    DeployDecision,
    EvalStep,
    EvaluationScore,
    Metrics,
    call_from_tool_calls,
    cell_key,
    deploy_decision,
    eval_step,
    score,
)
from lab.training.live import evaluated, run_changed
from lab.training.providers import FineTuneProvider, ProviderError
from lab.training.suggest import CellData, Suggestion, falls_short, suggest

log = structlog.get_logger(__name__)

# Requests in flight per model: enough to be quick, few enough not to hit rate limits.
CONCURRENT_REQUESTS = 4


@dataclass(frozen=True)
class ModelUnderTest:
    role: str  # candidate, base, deployed
    provider: str
    model: str
    # The Azure deployment the model is called through, when one was made for it.
    deployment: str | None = None


# --- loading --------------------------------------------------------------------------------


async def _examples(s: AsyncSession, site: str, session_ids: Sequence[str]) -> list[TrainingExample]:
    ids = [uuid.UUID(sid) for sid in session_ids]
    if not ids:
        return []
    rows = await s.exec(
        select(TrainingExample)
        .where(TrainingExample.site == site, col(TrainingExample.session_id).in_(ids), col(TrainingExample.valid))
        .order_by(col(TrainingExample.session_id), col(TrainingExample.event_id))
    )
    return list(rows.all())


def _steps(site: str, rows: Sequence[TrainingExample]) -> list[EvalStep]:
    return [
        eval_step(row.body, f"{row.session_id}:{row.event_id}", site, str(row.session_id), row.event_id) for row in rows
    ]


async def held_out_steps(s: AsyncSession, run: TrainingRun) -> list[EvalStep]:
    """The run's validation split, one step per example, in session then event order."""
    return _steps(run.site, await _examples(s, run.site, run.dataset.get("validation_sessions") or []))


async def training_cells(s: AsyncSession, run: TrainingRun) -> dict[str, CellData]:
    """How many training examples and sessions each (page type, action) cell had."""
    steps = _steps(run.site, await _examples(s, run.site, run.dataset.get("train_sessions") or []))
    examples: dict[str, int] = defaultdict(int)
    sessions: dict[str, set[str]] = defaultdict(set)
    for step in steps:
        key = cell_key(step.page_type, step.action)
        examples[key] += 1
        sessions[key].add(step.session_id)
    return {key: CellData(examples[key], len(sessions[key])) for key in examples}


@dataclass(frozen=True)
class StoredPage:
    page_url: str
    html: str
    record: Mapping[str, Any]


async def stored_snapshots(s: AsyncSession, blobs: BlobStore, steps: Sequence[EvalStep]) -> dict[str, StoredPage]:
    """For each element step whose page has a stored DOM snapshot: the snapshot taken on that page
    before the action, and the captured selector record of its target."""
    wanted = [step for step in steps if step.action in ELEMENT_ACTIONS and step.event_id is not None]
    if not wanted:
        return {}
    actions = {
        e.id: e for e in (await s.exec(select(Event).where(col(Event.id).in_([st.event_id for st in wanted])))).all()
    }
    sessions = {e.session_id for e in actions.values()}
    snapshots = (
        await s.exec(
            select(Event).where(col(Event.session_id).in_(sessions), Event.type == "snapshot").order_by(col(Event.seq))
        )
    ).all()
    by_session: dict[uuid.UUID, list[Event]] = defaultdict(list)
    for snap in snapshots:
        if snap.payload.get("blob_key"):
            by_session[snap.session_id].append(snap)
    out: dict[str, StoredPage] = {}
    for step in wanted:
        action = actions.get(step.event_id or -1)
        if action is None:
            continue
        same_page = [
            snap
            for snap in by_session.get(action.session_id, [])
            if snap.seq < action.seq
            and (snap.page_id == action.page_id if snap.page_id and action.page_id else snap.url == action.url)
        ]
        if not same_page:
            continue
        snap = same_page[-1]
        html = inflate_snapshot(await blobs.get(str(snap.payload["blob_key"])))
        record = action.payload.get("selectors")
        if not isinstance(record, Mapping) or not record.get("candidates"):
            record = {"candidates": step.expected.selector_records()}
        out[step.key] = StoredPage(snap.url, html, record)
    return out


# --- asking the models ----------------------------------------------------------------------


async def predictions(provider: FineTuneProvider, model: str, steps: Sequence[EvalStep]) -> list[Call]:
    """The model's call for every step. A request the provider refuses counts as a wrong answer
    (with the reason); a transient failure the provider layer gave up on is raised."""
    slots = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def one(step: EvalStep) -> Call:
        async with slots:
            try:
                reply = await provider.respond(model, step.messages, step.tools or None)
            except ProviderError as error:
                if runs.is_transient(error):
                    raise
                return Call(None, {}, f"the provider refused: {error}")
        return call_from_tool_calls([(c.name, c.arguments) for c in reply.tool_calls], reply.content)

    return list(await asyncio.gather(*(one(step) for step in steps)))


async def _dom_checks(
    steps: Sequence[EvalStep],
    pages: Mapping[str, StoredPage],
    calls: Sequence[Sequence[Call]],
    settings: Settings,
    browser: Browser | None,
) -> list[list[bool | None]]:
    """Per model, per step: the element check on the stored snapshot (None: nothing to check on)."""
    checks: list[list[bool | None]] = [[None] * len(steps) for _ in calls]
    indexes = [i for i, step in enumerate(steps) if step.key in pages]
    if not indexes:
        return checks
    cases = [
        dom_check.SnapshotCase(
            pages[steps[i].key].page_url,
            pages[steps[i].key].html,
            pages[steps[i].key].record,
            [model_calls[i].selector_records() for model_calls in calls],
        )
        for i in indexes
    ]
    verdicts = await dom_check.check_on_snapshots(cases, browser=browser, settings=settings)
    for i, verdict in zip(indexes, verdicts, strict=True):
        if verdict.found:
            for m, pick in enumerate(verdict.picks):
                checks[m][i] = pick
    return checks


# --- the whole evaluation -------------------------------------------------------------------


def _summary(result: EvaluationScore | None, model: ModelUnderTest | None) -> dict[str, Any] | None:
    if result is None or model is None:
        return None
    return {"model": model.model, "provider": model.provider, **result.overall.to_dict()}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


async def evaluate_run(
    db: Database,
    blobs: BlobStore,
    settings: Settings,
    run_id: uuid.UUID,
    *,
    final_attempt: bool = False,
    browser: Browser | None = None,
) -> Evaluation | None:
    """Score the run's model on its held-out split beside the base and deployed models, store the
    evaluation, and deploy the model when it beats both; None when the run is not waiting for this."""
    async with runs.failure_recorded(db, run_id, "evaluation", final_attempt):
        return await _evaluate_run(db, blobs, settings, run_id, final_attempt=final_attempt, browser=browser)


async def _evaluate_run(
    db: Database,
    blobs: BlobStore,
    settings: Settings,
    run_id: uuid.UUID,
    *,
    final_attempt: bool = False,
    browser: Browser | None = None,
) -> Evaluation | None:
    async with db.session() as s:
        run = await runs.get_run(s, run_id)
        if run.status != "evaluating" or not run.fine_tuned_model:
            return None
        steps = await held_out_steps(s, run)
        cells = await training_cells(s, run)
        pages = await stored_snapshots(s, blobs, steps)
        active = await deploy.active_deployment(s, run.site)
        active_deployment = (await deploy.serving_names(s, [active])).get(active.id or 0) if active else None
        await runs.add_event(
            s,
            run_id,
            f"Evaluating {run.fine_tuned_model} on {len(steps)} held-out steps "
            f"({len(pages)} with a stored DOM snapshot) against {run.model}"
            + (f" and the deployed {active.model}" if active and active.model != run.fine_tuned_model else ""),
        )
    models = [
        ModelUnderTest("candidate", run.provider, run.fine_tuned_model),
        ModelUnderTest("base", run.provider, run.model),
    ]
    if active is not None and active.model != run.fine_tuned_model:
        models.append(ModelUnderTest("deployed", active.provider, active.model, active_deployment))
    try:
        calls = []
        for model in models:
            provider = runs.provider_for(settings, model.provider, per_model=True)
            try:
                if model.role == "candidate":
                    target = await _serve_candidate(db, provider, run_id)
                else:
                    target = provider.serving_target(model.model, model.deployment)
                calls.append(await predictions(provider, target, steps))
            finally:
                async with db.session() as s:
                    await runs.record_retries(s, run_id, provider.retries)
                await provider.aclose()
        checks = await _dom_checks(steps, pages, calls, settings, browser)
    except ProviderError as error:
        await _evaluation_failed(db, run_id, error, final_attempt)
        if not final_attempt:
            raise
        return None
    results = {m.role: score(m.model, steps, c, k) for m, c, k in zip(models, calls, checks, strict=True)}
    by_role = {m.role: m for m in models}
    candidate = results["candidate"]
    base = results.get("base")
    deployed = results.get("deployed")
    decision = deploy_decision(
        candidate.overall, base.overall if base else None, deployed.overall if deployed else None
    )
    short = falls_short(candidate.overall, deployed.overall if deployed else None)
    advice = suggest(run.site, candidate.by_cell(), cells) if short else []
    return await _store(db, run, candidate, base, deployed, by_role, decision, short, advice)


async def _serve_candidate(db: Database, provider: FineTuneProvider, run_id: uuid.UUID) -> str:
    """Make the run's model callable (on Azure with ARM: create or reuse its deployment, and record
    it with the run); what to call."""
    async with db.session() as s:
        run = await runs.get_run(s, run_id)
    model = run.fine_tuned_model
    target = await deploy.make_run_servable(provider, run)
    if target != model:
        async with db.session() as s:
            current = await runs.get_run(s, run_id)
            deploy.record_run_deployment(current, target, model or "")
            s.add(current)
            await runs.add_event(
                s,
                run_id,
                f"Azure deployment {target} of {model} is ready; evaluation calls it "
                "(Azure bills it per hour while it exists)",
                data={"azure_deployment": target},
            )
    return target


async def _evaluation_failed(db: Database, run_id: uuid.UUID, error: ProviderError, final_attempt: bool) -> None:
    async with db.session() as s:
        run = await runs.get_run(s, run_id)
        if final_attempt and run.status not in FINAL_RUN_STATUSES:
            run.status = "failed"
            run.error_code, run.error_message, run.error_param = "evaluation_failed", str(error), error.param
            run.finished_at = run.updated_at = utcnow()
            s.add(run)
            await run_changed(s, run)
        level = "error" if final_attempt else "warning"
        note = "" if final_attempt else "; the task will try again"
        await runs.add_event(s, run_id, f"Evaluation failed: {error}{note}", level=level)


async def _store(
    db: Database,
    run: TrainingRun,
    candidate: EvaluationScore,
    base: EvaluationScore | None,
    deployed: EvaluationScore | None,
    by_role: Mapping[str, ModelUnderTest],
    decision: DeployDecision,
    short: bool,
    advice: Sequence[Suggestion],
) -> Evaluation:
    overall: Metrics = candidate.overall
    async with db.session() as s:
        current = await runs.get_run(s, run.id)
        evaluation = Evaluation(
            run_id=run.id,
            site=run.site,
            model=candidate.model,
            split="validation",
            action_accuracy=overall.action_accuracy,
            element_accuracy=overall.element_accuracy,
            step_success=overall.step_success,
            n_steps=overall.n_steps,
            breakdown=candidate.breakdown(),
            compared_to={
                "base": _summary(base, by_role.get("base")),
                "deployed": _summary(deployed, by_role.get("deployed")),
            },
            element_check=candidate.element_check(),
            decision={**decision.to_dict(), "falls_short": short, "deployed": False},
            suggestions=[item.to_dict() for item in advice],
        )
        await runs.add_event(
            s,
            run.id,
            f"Evaluated {candidate.model}: step success {_pct(overall.step_success)} "
            f"(action {_pct(overall.action_accuracy)}, element {_pct(overall.element_accuracy)}) on {overall.n_steps} "
            f"held-out steps; base {_pct(base.overall.step_success if base else None)}, "
            f"deployed {_pct(deployed.overall.step_success if deployed else None)}",
            data={"metrics": overall.to_dict(), "element_check": evaluation.element_check},
        )
        serving = await deploy.active_deployment(s, run.site)
        already = serving is not None and serving.model == candidate.model
        if decision.deploy and current.status == "evaluating" and not already:
            deployment = await deploy.deploy_run(s, current, None, f"automatic: {decision.reason}")
            evaluation.decision = {**evaluation.decision, "deployed": True, "deployment_id": deployment.id}
            await runs.add_event(s, run.id, f"Deployed {candidate.model} for {run.site}: {decision.reason}")
        else:
            await runs.add_event(s, run.id, f"Not deployed automatically: {decision.reason}")
        for item in advice:
            await runs.add_event(s, run.id, f"Suggestion: {item.message}", level="warning")
        s.add(evaluation)
        await s.flush()
        await evaluated(s, evaluation)
        if current.status == "evaluating":
            current.status = "succeeded"
            current.finished_at = current.updated_at = utcnow()
            s.add(current)
            await run_changed(s, current)
        await s.flush()
    log.info(
        "training.evaluated",
        run_id=str(run.id),
        site=run.site,
        model=candidate.model,
        step_success=overall.step_success,
        deployed=evaluation.decision.get("deployed"),
    )
    return evaluation
