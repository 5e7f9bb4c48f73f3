"""Run one pipeline step with its status kept: running, then done or failed (and re-raised)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog

from lab.db.engine import Database
from lab.monitoring import metrics, webhooks
from lab.pipeline.status import STEPS, record_step, set_session_status
from lab.pipeline.steps import STEP_FUNCTIONS
from lab.storage.blobs import BlobStore

log = structlog.get_logger(__name__)


def next_step(step: str) -> str | None:
    """The step after `step`, or None after the last one."""
    index = STEPS.index(step)
    return STEPS[index + 1] if index + 1 < len(STEPS) else None


async def run_step(
    db: Database,
    blobs: BlobStore,
    session_id: uuid.UUID,
    step: str,
    *,
    final_attempt: bool = False,
) -> dict[str, Any]:
    """Run `step` for a session, recording its status; a failure is recorded and re-raised so the queue retries.

    When `final_attempt` is set and the step fails, the session itself is marked 'failed'.
    """
    if step not in STEP_FUNCTIONS:
        raise ValueError(f"step: {step!r} is not one of {STEPS}")
    state = await record_step(db, session_id, step, "running")
    log.info("pipeline.step.running", session_id=str(session_id), step=step, attempt=state.attempts)
    started = time.perf_counter()
    try:
        detail = await STEP_FUNCTIONS[step](db, blobs, session_id)
    except Exception as exc:
        metrics.count_step(step, "failed", time.perf_counter() - started, state.attempts)
        error = f"{type(exc).__name__}: {exc}"
        await record_step(db, session_id, step, "failed", error=error)
        log.warning(
            "pipeline.step.failed",
            session_id=str(session_id),
            step=step,
            attempt=state.attempts,
            error=error,
            final=final_attempt,
        )
        if final_attempt:
            async with db.session() as s:
                session = await set_session_status(s, session_id, "failed")
                # Keyed by step and attempt: a pipeline resumed and failing again is told again.
                await webhooks.session_finished(s, session, key=f":{step}:{state.attempts}")
            metrics.PIPELINE_SESSIONS.labels(status="failed").inc()
        raise
    metrics.count_step(step, "done", time.perf_counter() - started, state.attempts)
    await record_step(db, session_id, step, "done", detail=detail)
    if step == STEPS[-1]:
        # Only after the last step's row says done, so a reader never sees a done session with a step running.
        async with db.session() as s:
            session = await set_session_status(s, session_id, "done")
            await webhooks.session_finished(s, session)
        metrics.PIPELINE_SESSIONS.labels(status="done").inc()
    log.info("pipeline.step.done", session_id=str(session_id), step=step, attempt=state.attempts)
    return detail
