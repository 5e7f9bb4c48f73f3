"""Fine-tuning runs at the database edge: what a site would train on (dataset, plan, provider
warning), starting a run, uploading its files and creating its job, following the job, cancelling.

A run is a `TrainingRun` row plus `TrainingRunEvent` rows: our own steps, every retried provider
call, and the provider's job events (deduplicated by their id), so the dashboard can show the
whole story live. Following a job is one short poll per worker task: the task re-defers itself
with `next_poll_delay`, so a job that trains for hours never holds a worker.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.config import Settings
from lab.db.engine import Database
from lab.db.models import FINAL_RUN_STATUSES, Evaluation, TrainingRun, TrainingRunEvent, utcnow
from lab.training.azure_arm import ARM_SETTINGS
from lab.training.dataset import SiteDataset, build_site_dataset
from lab.training.finetune import Hyperparameters, JobPlan, PreviousRun, plan_job
from lab.training.limits import PROVIDERS
from lab.training.live import run_changed, run_events_added
from lab.training.providers import FineTuneProvider, JobEvent, JobStatus, ProviderError, provider_from_settings
from lab.training.retry import RetryRecord

log = structlog.get_logger(__name__)

# First look at a job soon after it changed (small jobs and the local fake move in seconds)...
FIRST_POLL_S = 0.5
# ...then twice as long each time nothing changed, up to a minute (real jobs run for hours).
POLL_BACKOFF = 2.0
MAX_POLL_S = 60.0
# The fine-tuning API returns at most 100 events per page.
EVENTS_PER_POLL = 100
# ProviderError codes of failures that waiting may fix (besides 408, 429 and 5xx answers).
TRANSIENT_CODES = frozenset({"APIConnectionError", "APITimeoutError"})


class RunRefused(ValueError):
    """A run cannot start (or a request about one is wrong) for a reason the trainer can fix; `field` names it."""

    def __init__(self, message: str, field: str = "site") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class RunConflict(Exception):
    """The run is not in a state that allows this (cancel a finished run, deploy a run without a model)."""


def is_transient(error: ProviderError) -> bool:
    """Whether the provider layer gave up on a failure that a later attempt may get past."""
    if error.code == "insufficient_quota":
        return False
    status = error.status_code
    return error.code in TRANSIENT_CODES or status in (408, 429) or (status is not None and status >= 500)


# --- providers ------------------------------------------------------------------------------


def provider_for(settings: Settings, provider: str, *, per_model: bool = False) -> FineTuneProvider:
    """The configured client of `provider` (`openai`, `azure`, `compatible`), whatever CODESIGHT_FT_PROVIDER says.

    `per_model`: on Azure, call each model through a deployment named after it (evaluation compares
    several models; a single `azure_deployment` would answer for all of them)."""
    if provider not in PROVIDERS:
        raise RunRefused(f"provider: unknown provider {provider!r}; one of {', '.join(PROVIDERS)}", "provider")
    update: dict[str, Any] = {"ft_provider": provider}
    if per_model:
        update["azure_deployment"] = None
    return provider_from_settings(settings.model_copy(update=update))


async def record_retries(s: AsyncSession, run_id: uuid.UUID, retries: Sequence[RetryRecord]) -> None:
    """One warning event per retried provider call."""
    for retry in retries:
        await add_event(
            s,
            run_id,
            f"{retry.operation}: retried after {retry.reason} (attempt {retry.attempt}, waited {retry.delay_s:.2f} s)",
            level="warning",
            data={
                "retry": {
                    "operation": retry.operation,
                    "attempt": retry.attempt,
                    "reason": retry.reason,
                    "delay_s": retry.delay_s,
                }
            },
        )


class _RetryLog:
    """The provider's retries not yet written as run events."""

    def __init__(self, provider: FineTuneProvider) -> None:
        self.provider = provider
        self.seen = len(provider.retries)

    def take(self) -> list[RetryRecord]:
        new = self.provider.retries[self.seen :]
        self.seen = len(self.provider.retries)
        return list(new)


# --- events ---------------------------------------------------------------------------------


async def add_event(
    s: AsyncSession,
    run_id: uuid.UUID,
    message: str,
    *,
    level: str = "info",
    data: Mapping[str, Any] | None = None,
    provider_event_id: str | None = None,
    created_at: datetime | None = None,
) -> None:
    """Append one event to a run's story (a provider event already stored is skipped)."""
    stmt = (
        insert(TrainingRunEvent)
        .values(
            run_id=run_id,
            created_at=created_at or utcnow(),
            level=level,
            message=message,
            data=dict(data or {}),
            provider_event_id=provider_event_id,
        )
        .on_conflict_do_nothing(constraint="uq_training_run_events_provider")
    )
    await s.exec(stmt)
    await run_events_added(s, run_id)


async def run_events(s: AsyncSession, run_id: uuid.UUID, after_id: int = 0) -> list[TrainingRunEvent]:
    rows = await s.exec(
        select(TrainingRunEvent)
        .where(TrainingRunEvent.run_id == run_id, col(TrainingRunEvent.id) > after_id)
        .order_by(col(TrainingRunEvent.id))
    )
    return list(rows.all())


# --- before a run: the proposal -------------------------------------------------------------


def parse_jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def previous_runs(s: AsyncSession, site: str) -> list[PreviousRun]:
    """The site's finished runs, oldest first, as the hyperparameter chooser reads them.

    A run that failed says nothing about hyperparameters; one that trained counts as `good`
    (evaluation does not yet tell underfitting from overfitting)."""
    rows = await s.exec(
        select(TrainingRun)
        .where(TrainingRun.site == site, col(TrainingRun.status).in_(["succeeded", "failed"]))
        .order_by(col(TrainingRun.created_at))
    )
    out: list[PreviousRun] = []
    for run in rows.all():
        epochs = run.hyperparameters.get("n_epochs")
        n_examples = int((run.dataset.get("counts") or {}).get("train_examples") or 0)
        if not isinstance(epochs, int) or n_examples < 1:
            continue
        rate = run.hyperparameters.get("learning_rate_multiplier")
        out.append(
            PreviousRun(
                n_examples=n_examples,
                n_epochs=epochs,
                outcome="failed" if run.status == "failed" else "good",
                learning_rate_multiplier=float(rate) if isinstance(rate, int | float) else None,
            )
        )
    return out


@dataclass(frozen=True)
class RunProposal:
    """Everything a trainer sees before starting a run of a site: the dataset and its validation
    report, the proposed hyperparameters and bill, and the provider's status."""

    site: str
    provider: str
    model: str
    dataset: SiteDataset
    plan: JobPlan
    previous: tuple[PreviousRun, ...] = ()
    # Why the provider cannot be used with the current settings (a missing key or endpoint), if so.
    unconfigured: str | None = None
    # How the trained model will be called, when the trainer must know (Azure deployments).
    serving_note: str | None = None

    def refusals(self) -> list[str]:
        """Why a run cannot start now, one clear sentence each (empty when it can)."""
        counts = self.dataset.counts()
        out: list[str] = [self.unconfigured] if self.unconfigured else []
        if counts["sessions"] == 0:
            out.append(f"site {self.site!r} has no accepted sessions: record sessions and accept them in review first")
        elif counts["train_examples"] == 0:
            out.append(f"the training split of {self.site!r} has no valid examples")
        elif counts["validation_examples"] == 0:
            out.append(
                f"the validation split of {self.site!r} is empty: evaluation needs held-out sessions "
                "(at least two accepted sessions)"
            )
        for name, report in (("training", self.dataset.train_report), ("validation", self.dataset.validation_report)):
            if not report.ok:
                keys = ", ".join(f"{key}: {n}" for key, n in sorted(report.error_counts.items()))
                out.append(f"{report.invalid_count} of {report.example_count} {name} examples are invalid ({keys})")
        if counts["sessions"]:
            out += [problem.message for problem in self.dataset.problems]
        if not self.plan.status.accepts_new_jobs:
            out.append(" ".join(filter(None, (self.plan.status.warning, self.plan.status.suggestion))))
        return out

    @property
    def can_start(self) -> bool:
        return not self.refusals()

    def plan_dict(self) -> dict[str, Any]:
        """The plan as stored with a run and shown before it starts."""
        estimate = self.plan.estimate
        status = self.plan.status
        return {
            "hyperparameters": self.plan.choice.hyperparameters.to_api(),
            "reasons": list(self.plan.choice.reasons),
            "estimate": {
                "n_examples": estimate.n_examples,
                "n_epochs": estimate.n_epochs,
                "tokens_per_epoch": estimate.tokens_per_epoch,
                "billed_tokens": estimate.billed_tokens,
                "examples_over_limit": estimate.examples_over_limit,
                "max_tokens_per_example": estimate.max_tokens_per_example,
                "counted_with": estimate.counted_with,
            },
            "provider_status": {
                "accepts_new_jobs": status.accepts_new_jobs,
                "warning": status.warning,
                "suggestion": status.suggestion,
            },
            "previous_runs": len(self.previous),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "provider": self.provider,
            "model": self.model,
            "dataset": self.dataset.report(),
            "plan": self.plan_dict(),
            "can_start": self.can_start,
            "refusals": self.refusals(),
            "serving_note": self.serving_note,
        }


async def propose_run(
    s: AsyncSession,
    site: str,
    settings: Settings,
    *,
    provider: str | None = None,
    model: str | None = None,
    today: date | None = None,
) -> RunProposal:
    """The dataset of `site` (accepted sessions only), checked for `provider` and `model` (the
    settings' by default), with hyperparameters chosen from its size and the site's earlier runs."""
    provider = provider or settings.ft_provider
    model = (model or settings.ft_model).strip()
    if provider not in PROVIDERS:
        raise RunRefused(f"provider: unknown provider {provider!r}; one of {', '.join(PROVIDERS)}", "provider")
    if not model:
        raise RunRefused("model: name the base model to fine-tune", "model")
    dataset = await build_site_dataset(
        s, site, settings.model_copy(update={"ft_provider": provider, "ft_model": model})
    )
    previous = await previous_runs(s, site)
    plan = plan_job(parse_jsonl(dataset.train_jsonl), provider, model, today or datetime.now(UTC).date(), previous)
    return RunProposal(
        site,
        provider,
        model,
        dataset,
        plan,
        tuple(previous),
        await _unconfigured(settings, provider),
        serving_note(settings, provider),
    )


def serving_note(settings: Settings, provider: str) -> str | None:
    """What a trainer must know about how Azure will serve the model (None for other providers)."""
    if provider != "azure":
        return None
    if any(getattr(settings, name) for name in ARM_SETTINGS):
        return (
            "CodeSight creates an Azure deployment for each fine-tuned model (codesight-<site>-<run>) when it is "
            "evaluated; Azure bills each per hour while it exists. `codesight azure-deployments prune` deletes "
            "those no site uses."
        )
    fixed = settings.azure_deployment
    return (
        "Without CODESIGHT_AZURE_SUBSCRIPTION_ID, CODESIGHT_AZURE_RESOURCE_GROUP and CODESIGHT_AZURE_ACCOUNT, "
        "CodeSight cannot create Azure deployments: deploy each fine-tuned model by hand in Azure AI Foundry, "
        + (
            f"as the deployment {fixed!r} (CODESIGHT_AZURE_DEPLOYMENT) that evaluation and predict call."
            if fixed
            else "under the fine-tuned model's name, or set CODESIGHT_AZURE_DEPLOYMENT to the deployment to call."
        )
    )


async def _unconfigured(settings: Settings, provider: str) -> str | None:
    """Why `provider` cannot be used with these settings (building its client checks them), or None."""
    try:
        client = provider_for(settings, provider)
    except ProviderError as error:
        return error.message
    await client.aclose()
    return None


def _dataset_record(dataset: SiteDataset) -> dict[str, Any]:
    """What a run keeps of its dataset: counts, which sessions went where, the validation summary."""
    return {
        "counts": dataset.counts(),
        "train_sessions": sorted(str(sid) for sid, split in dataset.splits.items() if split == "train"),
        "validation_sessions": sorted(str(sid) for sid, split in dataset.splits.items() if split == "validation"),
        "train_report": {k: v for k, v in dataset.train_report.to_dict().items() if k != "invalid"},
        "validation_report": {k: v for k, v in dataset.validation_report.to_dict().items() if k != "invalid"},
    }


async def create_run(
    s: AsyncSession,
    proposal: RunProposal,
    *,
    hyperparameters: Hyperparameters | None = None,
    created_by: uuid.UUID | None = None,
) -> TrainingRun:
    """Record a new run from a proposal (the trainer's hyperparameters win over the proposed ones);
    RunRefused, with every reason, when the proposal cannot start."""
    refusals = proposal.refusals()
    if refusals:
        raise RunRefused("; ".join(refusals), "site" if proposal.dataset.counts()["sessions"] == 0 else "dataset")
    chosen = hyperparameters or proposal.plan.choice.hyperparameters
    plan = proposal.plan_dict()
    plan["requested_hyperparameters"] = chosen.to_api()
    run = TrainingRun(
        site=proposal.site,
        provider=proposal.provider,
        model=proposal.model,
        status="pending",
        hyperparameters=chosen.to_api(),
        plan=plan,
        dataset=_dataset_record(proposal.dataset),
        created_by=created_by,
    )
    s.add(run)
    await s.flush()
    await run_changed(s, run)
    counts = proposal.dataset.counts()
    await add_event(
        s,
        run.id,
        f"Run created: {counts['train_examples']} training and {counts['validation_examples']} validation examples "
        f"from {counts['sessions']} accepted sessions; {proposal.provider} {proposal.model}",
        data={"hyperparameters": chosen.to_api()},
    )
    if proposal.plan.status.warning:
        await add_event(s, run.id, proposal.plan.status.warning, level="warning")
    log.info("training.run_created", run_id=str(run.id), site=run.site, provider=run.provider, model=run.model)
    return run


# --- the worker's side ----------------------------------------------------------------------


async def _locked_run(s: AsyncSession, run_id: uuid.UUID) -> TrainingRun:
    run = (await s.exec(select(TrainingRun).where(TrainingRun.id == run_id).with_for_update())).first()
    if run is None:
        raise LookupError(f"training run {run_id} does not exist")
    return run


async def get_run(s: AsyncSession, run_id: uuid.UUID) -> TrainingRun:
    run = await s.get(TrainingRun, run_id)
    if run is None:
        raise LookupError(f"training run {run_id} does not exist")
    return run


def _fail(run: TrainingRun, code: str, message: str, param: str | None) -> None:
    run.status = "failed"
    run.error_code, run.error_message, run.error_param = code, message, param
    run.finished_at = run.updated_at = utcnow()


async def _set(db: Database, run_id: uuid.UUID, **values: Any) -> TrainingRun | None:
    """Update a run unless it has finished meanwhile (a cancel wins); the run as it is now."""
    async with db.session() as s:
        run = await _locked_run(s, run_id)
        if run.status in FINAL_RUN_STATUSES:
            return None
        for name, value in values.items():
            setattr(run, name, value)
        run.updated_at = utcnow()
        s.add(run)
        await run_changed(s, run)
        return run


async def _provider_failed(
    db: Database, run_id: uuid.UUID, operation: str, error: ProviderError, retries: Sequence[RetryRecord], final: bool
) -> None:
    """Record a provider failure: a transient one is retried by the task (until its final attempt),
    anything else fails the run with the provider's code, message and param."""
    async with db.session() as s:
        await record_retries(s, run_id, retries)
        run = await _locked_run(s, run_id)
        if is_transient(error) and not final:
            await add_event(s, run_id, f"{operation} failed ({error}); the task will try again", level="warning")
            return
        if run.status not in FINAL_RUN_STATUSES:
            _fail(run, error.code, error.message, error.param)
            s.add(run)
            await run_changed(s, run)
            await add_event(s, run_id, f"{operation} failed: {error}", level="error", data=_error_data(error))
    log.warning("training.provider_failed", run_id=str(run_id), operation=operation, code=error.code)


def _error_data(error: ProviderError) -> dict[str, Any]:
    return {"code": error.code, "message": error.message, "param": error.param, "status_code": error.status_code}


async def _upload_and_create_job(
    db: Database, settings: Settings, run_id: uuid.UUID, *, final_attempt: bool = False
) -> bool:
    async with db.session() as s:
        run = await get_run(s, run_id)
        if run.status in FINAL_RUN_STATUSES:
            return False
        if run.job_id:
            return True
        proposal = await propose_run(s, run.site, settings, provider=run.provider, model=run.model)
    refusals = proposal.refusals()
    if refusals:
        closed = not proposal.plan.status.accepts_new_jobs
        code, param = ("provider_closed", "provider") if closed else ("invalid_dataset", "training_file")
        async with db.session() as s:
            run = await _locked_run(s, run_id)
            if run.status not in FINAL_RUN_STATUSES:
                _fail(run, code, "; ".join(refusals), param)
                s.add(run)
                await run_changed(s, run)
                await add_event(s, run_id, f"The run can no longer start: {run.error_message}", level="error")
        return False
    if await _set(db, run_id, status="uploading", dataset=_dataset_record(proposal.dataset)) is None:
        return False
    provider = provider_for(settings, run.provider)
    retries = _RetryLog(provider)
    operation = "upload"
    try:
        files: dict[str, str | None] = {
            "training_file_id": run.training_file_id,
            "validation_file_id": run.validation_file_id,
        }
        uploads = (
            ("training_file_id", proposal.dataset.train_jsonl, "train"),
            ("validation_file_id", proposal.dataset.validation_jsonl, "validation"),
        )
        for column, text, split in uploads:
            if files[column] or not text:
                continue
            ref = await provider.upload(text.encode("utf-8"), filename=f"{run.site}-{split}-{run.id.hex[:8]}.jsonl")
            files[column] = ref.id
            async with db.session() as s:
                await record_retries(s, run_id, retries.take())
                await add_event(
                    s, run_id, f"Uploaded {split} file {ref.id} ({ref.size_bytes} bytes)", data={"file_id": ref.id}
                )
            if await _set(db, run_id, **{column: ref.id}) is None:
                return False
        operation = "create_job"
        training_file = files["training_file_id"]
        assert training_file is not None
        chosen = Hyperparameters(**run.hyperparameters) if run.hyperparameters else None
        job = await provider.create_job(
            training_file, files["validation_file_id"], run.model, chosen, suffix=_suffix(run.site), seed=None
        )
        async with db.session() as s:
            await record_retries(s, run_id, retries.take())
            current = await _locked_run(s, run_id)
            cancelled = current.status in FINAL_RUN_STATUSES
            if not cancelled:
                current.job_id, current.status, current.updated_at = job.id, job.status, utcnow()
                s.add(current)
                await run_changed(s, current)
                await add_event(
                    s, run_id, f"{run.provider} accepted job {job.id} ({job.status})", data={"job_id": job.id}
                )
        if cancelled:  # the trainer cancelled while the job was being created
            await provider.cancel(job.id)
            async with db.session() as s:
                await add_event(s, run_id, f"Cancelled job {job.id}, created while the run was being cancelled")
            return False
        return True
    except ProviderError as error:
        await _provider_failed(db, run_id, operation, error, retries.take(), final_attempt)
        if is_transient(error) and not final_attempt:
            raise
        return False
    finally:
        await provider.aclose()


def _suffix(site: str) -> str:
    """The job suffix: the site, as the fine-tuned model's name shows it (at most 18 characters on OpenAI)."""
    clean = "".join(c if c.isalnum() or c == "-" else "-" for c in site.lower()).strip("-")
    return (clean or "site")[:18]


def next_poll_delay(quiet_polls: int) -> float:
    """Seconds until the next look at a job after `quiet_polls` looks in a row that saw no change."""
    return min(MAX_POLL_S, FIRST_POLL_S * POLL_BACKOFF**quiet_polls)


Next = Literal["poll", "evaluate", "stop"]


@dataclass(frozen=True)
class PollResult:
    """What the follower does next, and after how long; `changed`: the job moved or spoke since the last look."""

    next: Next
    changed: bool = False
    delay_s: float = 0.0
    status: str = ""
    new_events: int = 0


async def _store_job_events(s: AsyncSession, run_id: uuid.UUID, events: Sequence[JobEvent]) -> int:
    stored = {
        row
        for row in (
            await s.exec(
                select(TrainingRunEvent.provider_event_id).where(
                    TrainingRunEvent.run_id == run_id, col(TrainingRunEvent.provider_event_id).is_not(None)
                )
            )
        ).all()
    }
    new = [e for e in events if e.id not in stored]
    for event in new:
        await add_event(
            s,
            run_id,
            event.message,
            level=event.level,
            data={"type": event.type, "provider_created_at": event.created_at},
            provider_event_id=event.id,
            created_at=datetime.fromtimestamp(event.created_at, UTC),
        )
    return len(new)


def _apply_job(run: TrainingRun, job: JobStatus) -> None:
    """Copy what the provider says of a job onto its run."""
    run.updated_at = utcnow()
    if job.status == "succeeded":
        run.status = "evaluating"
        run.fine_tuned_model = job.fine_tuned_model
        run.trained_tokens = job.trained_tokens
        if job.hyperparameters:
            run.hyperparameters = {**run.hyperparameters, **dict(job.hyperparameters)}
    elif job.status == "failed":
        _fail(
            run,
            job.error_code or "job_failed",
            job.error_message or "the provider reported the job as failed without a reason",
            job.error_param,
        )
    elif job.status == "cancelled":
        run.status = "cancelled"
        run.finished_at = utcnow()
    else:
        run.status = job.status


async def _poll_run(
    db: Database, settings: Settings, run_id: uuid.UUID, quiet_polls: int = 0, *, final_attempt: bool = False
) -> PollResult:
    async with db.session() as s:
        run = await get_run(s, run_id)
    if run.status in FINAL_RUN_STATUSES or run.job_id is None:
        return PollResult("stop", status=run.status)
    if run.status == "evaluating":
        return PollResult("evaluate", status=run.status)
    provider = provider_for(settings, run.provider)
    retries = _RetryLog(provider)
    try:
        job = await provider.get_job(run.job_id)
        events = await provider.list_events(run.job_id, limit=EVENTS_PER_POLL)
    except ProviderError as error:
        await _provider_failed(db, run_id, "follow", error, retries.take(), final_attempt)
        if is_transient(error) and not final_attempt:
            raise
        return PollResult("stop", status="failed")
    finally:
        await provider.aclose()
    async with db.session() as s:
        await record_retries(s, run_id, retries.take())
        new_events = await _store_job_events(s, run_id, events)
        current = await _locked_run(s, run_id)
        if current.status in FINAL_RUN_STATUSES:
            return PollResult("stop", status=current.status, new_events=new_events)
        before = current.status
        _apply_job(current, job)
        s.add(current)
        if current.status != before:
            await run_changed(s, current)
        if current.status == "failed":
            await add_event(
                s,
                run_id,
                f"Job {job.id} failed: {current.error_code}: {current.error_message}"
                + (f" (param: {current.error_param})" if current.error_param else ""),
                level="error",
                data={"code": current.error_code, "message": current.error_message, "param": current.error_param},
            )
        status = current.status
    changed = status != before or new_events > 0
    if status == "evaluating":
        return PollResult("evaluate", changed, status=status, new_events=new_events)
    if status in FINAL_RUN_STATUSES:
        return PollResult("stop", changed, status=status, new_events=new_events)
    quiet = 0 if changed else quiet_polls + 1
    return PollResult("poll", changed, next_poll_delay(quiet), status, new_events)


@asynccontextmanager
async def failure_recorded(db: Database, run_id: uuid.UUID, step: str, final_attempt: bool) -> AsyncIterator[None]:
    """Record an unexpected failure of a run's step, then raise it again: a warning event while the
    task will try again, and on its last attempt the run fails with it (so no run hangs half-way).
    Provider failures are recorded where they happen."""
    try:
        yield
    except ProviderError:
        raise
    except Exception as exc:
        async with db.session() as s:
            run = await _locked_run(s, run_id)
            message = f"{step} failed: {type(exc).__name__}: {exc}"
            if final_attempt and run.status not in FINAL_RUN_STATUSES:
                _fail(run, f"{step}_failed", message, None)
                s.add(run)
                await run_changed(s, run)
            note = "" if final_attempt else "; the task will try again"
            await add_event(s, run_id, message + note, level="error" if final_attempt else "warning")
        log.exception("training.step_failed", run_id=str(run_id), step=step, final_attempt=final_attempt)
        raise


async def upload_and_create_job(
    db: Database, settings: Settings, run_id: uuid.UUID, *, final_attempt: bool = False
) -> bool:
    """Build the site's dataset as it is now (accepted sessions only), upload its train and
    validation files and create the job; True when there is a job to follow.

    Safe to run again: files and job already recorded are not made twice. A transient provider
    failure is raised again (for the task's retry) until `final_attempt`; any other fails the run."""
    async with failure_recorded(db, run_id, "upload", final_attempt):
        return await _upload_and_create_job(db, settings, run_id, final_attempt=final_attempt)


async def poll_run(
    db: Database, settings: Settings, run_id: uuid.UUID, quiet_polls: int = 0, *, final_attempt: bool = False
) -> PollResult:
    """One look at a run's job: store its new events and status; say whether to look again (and
    when), evaluate the model, or stop."""
    async with failure_recorded(db, run_id, "follow", final_attempt):
        return await _poll_run(db, settings, run_id, quiet_polls, final_attempt=final_attempt)


async def cancel_run(
    db: Database, settings: Settings, run_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> TrainingRun:
    """Cancel a run and its job (if it has one yet); RunConflict when it has already finished."""
    async with db.session() as s:
        run = await _locked_run(s, run_id)
        if run.status in FINAL_RUN_STATUSES:
            raise RunConflict(f"run {run_id} has already {run.status}; there is nothing to cancel")
        if run.status == "evaluating":
            raise RunConflict(f"run {run_id} has finished training and is being evaluated; there is nothing to cancel")
        job_id = run.job_id
        if job_id is not None:
            provider = provider_for(settings, run.provider)
            try:
                await provider.cancel(job_id)
            except ProviderError as error:
                raise RunConflict(f"the provider refused to cancel job {job_id}: {error}") from error
            finally:
                await record_retries(s, run_id, provider.retries)
                await provider.aclose()
        run.status = "cancelled"
        run.finished_at = run.updated_at = utcnow()
        s.add(run)
        await run_changed(s, run)
        await add_event(
            s,
            run_id,
            f"Cancelled by a trainer{f' (job {job_id})' if job_id else ' before a job was created'}",
            level="warning",
            data={"by": str(user_id) if user_id else None},
        )
        return run


# --- read models ----------------------------------------------------------------------------


@dataclass
class RunView:
    """A run with its events and evaluation, for the API and the dashboard."""

    run: TrainingRun
    events: list[TrainingRunEvent] = field(default_factory=list)
    evaluation: Evaluation | None = None

    @property
    def finished(self) -> bool:
        return self.run.status in FINAL_RUN_STATUSES


async def run_view(s: AsyncSession, run_id: uuid.UUID) -> RunView:
    run = await get_run(s, run_id)
    evaluation = (
        await s.exec(select(Evaluation).where(Evaluation.run_id == run_id).order_by(col(Evaluation.id).desc()))
    ).first()
    return RunView(run, await run_events(s, run_id), evaluation)


async def list_runs(s: AsyncSession, site: str | None = None, limit: int = 50) -> list[TrainingRun]:
    query = select(TrainingRun).order_by(col(TrainingRun.created_at).desc()).limit(limit)
    if site is not None:
        query = query.where(TrainingRun.site == site)
    return list((await s.exec(query)).all())
