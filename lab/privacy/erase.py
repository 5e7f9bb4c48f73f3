"""The right to erasure (GDPR art. 17): delete one session, or everything a participant recorded.

Rows go in one transaction; blobs (screenshots, DOM snapshots, audio, the encrypted archive,
all under `sessions/<id>/`, and the vision answers cached by the screenshots' hashes) go after
it commits. A blob that could not be deleted stays listed in the erasure's record and report;
running the erasure again deletes what is left, so it is safe to repeat.

The participant row itself is deleted (its name and token hash with it): a deleted participant
can no longer send anything, and the `erasures` row keeps only its opaque id.

What this cannot reach is reported, not hidden: training files already uploaded to a fine-tuning
provider and the models trained on them (`ErasureReport.training_runs` names them), exports
someone downloaded, and database backups.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import String, delete, or_
from sqlalchemy.dialects.postgresql import array
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db import Database
from lab.db.models import (
    Erasure,
    Event,
    Page,
    Participant,
    PipelineStep,
    ReplayResult,
    ReplayVerdict,
    Screenshot,
    SelectorCandidate,
    Session,
    TrainingExample,
    TrainingRun,
    WebhookDelivery,
    utcnow,
)
from lab.storage.blobs import BlobStore
from lab.vision.cache import cache_key, image_sha256

log = structlog.get_logger(__name__)

# Whether a job of a session's pipeline is queued or running. The queue lives above lab, so the
# caller (web, CLI) passes its check in: workers.tasks.pipeline_busy bound to its queue.
PipelineBusy = Callable[[uuid.UUID], Awaitable[bool]]

NOT_RECALLED = (
    "CodeSight cannot recall training files already uploaded to a fine-tuning provider, nor models "
    "fine-tuned on them: delete those files at the provider (OpenAI: client.files.delete(file_id); "
    "Azure OpenAI: the same call on its endpoint) and retire the models if they must go too. "
    "Exports someone downloaded (training.jsonl) and database backups are not reached either."
)


class ErasureRefusedError(Exception):
    """The erasure would leave a session half-deleted (its pipeline is queued or running); nothing was deleted."""


def session_blob_prefix(session_id: uuid.UUID | str) -> str:
    """The folder of every blob of a session: screenshots, snapshots, audio and the archive
    (`lab.capture.media` and `lab.storage.archive.archive_blob_key` name keys under it)."""
    return f"sessions/{session_id}/"


@dataclass
class ErasureReport:
    """What an erasure deleted, what it could not, and what it cannot reach."""

    subject: str
    subject_id: uuid.UUID
    erasure_id: int | None = None
    sessions: list[str] = field(default_factory=list)
    sessions_deleted: int = 0
    participant_deleted: bool = False
    rows_deleted: dict[str, int] = field(default_factory=dict)
    blobs_deleted: int = 0
    bytes_freed: int = 0
    blob_failures: dict[str, str] = field(default_factory=dict)
    training_runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.blob_failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "subject_id": str(self.subject_id),
            "erasure_id": self.erasure_id,
            "complete": self.complete,
            "sessions": self.sessions,
            "sessions_deleted": self.sessions_deleted,
            "participant_deleted": self.participant_deleted,
            "rows_deleted": self.rows_deleted,
            "blobs_deleted": self.blobs_deleted,
            "bytes_freed": self.bytes_freed,
            "blob_failures": self.blob_failures,
            "training_runs": self.training_runs,
            "not_recalled": NOT_RECALLED,
        }

    def render(self) -> str:
        """The report as a terminal shows it."""
        rows = ", ".join(f"{table} {n}" for table, n in self.rows_deleted.items() if n) or "none"
        lines = [
            f"erased {self.subject} {self.subject_id} (erasure #{self.erasure_id})",
            f"sessions deleted: {self.sessions_deleted} of {len(self.sessions)}"
            + ("; participant deleted" if self.participant_deleted else ""),
            f"rows deleted: {rows}",
            f"blobs deleted: {self.blobs_deleted} ({self.bytes_freed} bytes)",
        ]
        if self.blob_failures:
            lines.append(f"NOT COMPLETE: {len(self.blob_failures)} blob(s) could not be deleted; run this again:")
            lines += [f"  {key}: {reason}" for key, reason in sorted(self.blob_failures.items())]
        if self.training_runs:
            lines.append("training runs whose dataset held these sessions (provider files to delete by hand):")
            lines += [
                f"  run {run['run_id']} ({run['provider']}, {run['status']}): files "
                f"{', '.join(f for f in (run['training_file_id'], run['validation_file_id']) if f) or 'none'}"
                f"; model {run['fine_tuned_model'] or 'none'}"
                for run in self.training_runs
            ]
        lines.append(NOT_RECALLED)
        return "\n".join(lines)


async def erase_session(
    db: Database, blobs: BlobStore, session_id: uuid.UUID, *, busy: PipelineBusy, requested_by: uuid.UUID | None = None
) -> ErasureReport:
    """Delete one session's rows and blobs. LookupError when it neither exists nor was erased
    before; ErasureRefusedError while its pipeline is queued or running."""
    async with db.session() as s:
        exists = await s.get(Session, session_id) is not None
        earlier = None if exists else await _earlier_erasure(s, "session", session_id)
    if not exists and earlier is None:
        raise LookupError(f"session {session_id} does not exist")
    report = ErasureReport("session", session_id)
    if earlier is not None:
        return await _finish(db, blobs, report, earlier.id, [session_id])
    await _refuse_busy(busy, [session_id])
    async with db.session() as s:
        session = await s.get(Session, session_id, with_for_update=True)
        if session is None:  # erased by someone else meanwhile: their record finishes the blobs
            raise LookupError(f"session {session_id} does not exist")
        erasure_id = await _delete_rows(s, report, [session_id], requested_by)
    return await _finish(db, blobs, report, erasure_id, [session_id])


async def erase_participant(
    db: Database,
    blobs: BlobStore,
    participant_id: uuid.UUID,
    *,
    busy: PipelineBusy,
    requested_by: uuid.UUID | None = None,
) -> ErasureReport:
    """Delete every session of a participant (rows and blobs), then the participant. LookupError when
    it neither exists nor was erased before; ErasureRefusedError while a pipeline of theirs is busy."""
    async with db.session() as s:
        exists = await s.get(Participant, participant_id) is not None
        earlier = None if exists else await _earlier_erasure(s, "participant", participant_id)
        planned = await _participant_sessions(s, participant_id) if exists else []
    if not exists and earlier is None:
        raise LookupError(f"participant {participant_id} does not exist")
    report = ErasureReport("participant", participant_id)
    if earlier is not None:
        return await _finish(db, blobs, report, earlier.id, [uuid.UUID(sid) for sid in earlier.session_ids])
    await _refuse_busy(busy, planned)
    async with db.session() as s:
        participant = await s.get(Participant, participant_id, with_for_update=True)
        if participant is None:
            raise LookupError(f"participant {participant_id} does not exist")
        # Sessions opened since the check are still recording, so no pipeline of theirs can be busy.
        session_ids = await _participant_sessions(s, participant_id, lock=True)
        erasure_id = await _delete_rows(s, report, session_ids, requested_by, participant_id=participant_id)
    return await _finish(db, blobs, report, erasure_id, session_ids)


async def _participant_sessions(s: AsyncSession, participant_id: uuid.UUID, *, lock: bool = False) -> list[uuid.UUID]:
    query = select(Session.id).where(Session.participant_id == participant_id).order_by(col(Session.started_at))
    return list((await s.exec(query.with_for_update() if lock else query)).all())


async def _earlier_erasure(s: AsyncSession, subject: str, subject_id: uuid.UUID) -> Erasure | None:
    """The latest erasure that covered this participant or session, so a re-run can finish its blobs."""
    query = select(Erasure)
    if subject == "participant":
        query = query.where(Erasure.subject == "participant", Erasure.subject_id == subject_id)
    else:
        query = query.where(col(Erasure.session_ids).contains([str(subject_id)]))
    return (await s.exec(query.order_by(col(Erasure.id).desc()).limit(1))).first()


async def _refuse_busy(busy: PipelineBusy, session_ids: Sequence[uuid.UUID]) -> None:
    # A running step would write its results (the archive step: a blob) after the delete.
    running = [str(sid) for sid in session_ids if await busy(sid)]
    if running:
        raise ErasureRefusedError(
            f"session(s) {', '.join(running)}: a pipeline job is queued or running; erase once it has finished"
        )


async def _delete_rows(
    s: AsyncSession,
    report: ErasureReport,
    session_ids: list[uuid.UUID],
    requested_by: uuid.UUID | None,
    participant_id: uuid.UUID | None = None,
) -> int:
    """Delete the sessions' rows, children first so each table's count is exact, and record the erasure."""
    report.training_runs = await _training_runs_with(s, session_ids)
    events = select(Event.id).where(col(Event.session_id).in_(session_ids))
    candidates = select(SelectorCandidate.id).where(col(SelectorCandidate.session_id).in_(session_ids))
    statements = {
        "replay_verdicts": delete(ReplayVerdict).where(col(ReplayVerdict.event_id).in_(events)),
        "replay_results": delete(ReplayResult).where(col(ReplayResult.candidate_id).in_(candidates)),
        "training_examples": delete(TrainingExample).where(col(TrainingExample.session_id).in_(session_ids)),
        "screenshots": delete(Screenshot).where(col(Screenshot.session_id).in_(session_ids)),
        "selector_candidates": delete(SelectorCandidate).where(col(SelectorCandidate.session_id).in_(session_ids)),
        "events": delete(Event).where(col(Event.session_id).in_(session_ids)),
        "pages": delete(Page).where(col(Page.session_id).in_(session_ids)),
        "pipeline_steps": delete(PipelineStep).where(col(PipelineStep.session_id).in_(session_ids)),
        # Events about the sessions (session.done, …), sent or waiting: nothing more goes out about them.
        "webhook_deliveries": delete(WebhookDelivery).where(
            WebhookDelivery.payload["data"]["session_id"].astext.in_([str(sid) for sid in session_ids])
        ),
        "sessions": delete(Session).where(col(Session.id).in_(session_ids)),
    }
    if participant_id is not None:
        statements["participants"] = delete(Participant).where(col(Participant.id) == participant_id)
    for table, statement in statements.items():
        report.rows_deleted[table] = (await s.exec(statement)).rowcount
    report.sessions = [str(sid) for sid in session_ids]
    report.sessions_deleted = report.rows_deleted["sessions"]
    report.participant_deleted = bool(report.rows_deleted.get("participants"))
    erasure = Erasure(
        subject=report.subject,
        subject_id=report.subject_id,
        requested_by=requested_by,
        session_ids=report.sessions,
        rows_deleted=report.rows_deleted,
    )
    s.add(erasure)
    await s.flush()
    assert erasure.id is not None
    log.info("erasure.rows_deleted", erasure_id=erasure.id, subject=report.subject, sessions=len(session_ids))
    return erasure.id


async def _training_runs_with(s: AsyncSession, session_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """Runs whose recorded dataset (`training_runs.dataset`) held any of these sessions."""
    if not session_ids:
        return []
    wanted = array([str(sid) for sid in session_ids], type_=String)
    dataset = col(TrainingRun.dataset)
    runs = (
        await s.exec(
            select(TrainingRun)
            .where(or_(dataset["train_sessions"].has_any(wanted), dataset["validation_sessions"].has_any(wanted)))
            .order_by(col(TrainingRun.created_at))
        )
    ).all()
    return [
        {
            "run_id": str(run.id),
            "site": run.site,
            "provider": run.provider,
            "status": run.status,
            "training_file_id": run.training_file_id,
            "validation_file_id": run.validation_file_id,
            "fine_tuned_model": run.fine_tuned_model,
        }
        for run in runs
    ]


async def _finish(
    db: Database, blobs: BlobStore, report: ErasureReport, erasure_id: int | None, session_ids: list[uuid.UUID]
) -> ErasureReport:
    """Delete the sessions' blobs (after the rows' commit) and bring the erasure's record up to date."""
    report.erasure_id = erasure_id
    report.sessions = [str(sid) for sid in session_ids]
    for session_id in session_ids:
        await _delete_session_blobs(blobs, session_id, report)
    async with db.session() as s:
        if not report.training_runs:
            report.training_runs = await _training_runs_with(s, session_ids)
        erasure = await s.get(Erasure, erasure_id, with_for_update=True)
        assert erasure is not None
        erasure.blobs_deleted += report.blobs_deleted
        erasure.bytes_freed += report.bytes_freed
        prefixes = tuple(session_blob_prefix(sid) for sid in session_ids)
        # Failures of this run's sessions are replaced by this run's; those of the record's other sessions stay.
        kept = {key: reason for key, reason in erasure.blob_failures.items() if not key.startswith(prefixes)}
        erasure.blob_failures = kept | report.blob_failures
        erasure.completed_at = erasure.completed_at or (None if erasure.blob_failures else utcnow())
        s.add(erasure)
    log.info(
        "erasure.done",
        erasure_id=erasure_id,
        subject=report.subject,
        blobs_deleted=report.blobs_deleted,
        blob_failures=len(report.blob_failures),
    )
    return report


async def _delete_session_blobs(blobs: BlobStore, session_id: uuid.UUID, report: ErasureReport) -> None:
    """Delete a session's folder of blobs, after the vision answers cached under its screenshots' hashes.

    When a cached answer cannot be deleted the folder is kept, so the next run still finds the
    screenshot that names it."""
    prefix = session_blob_prefix(session_id)
    failures: dict[str, str] = {}
    try:
        for key in await blobs.list(prefix + "screenshots/"):
            try:
                await blobs.delete(cache_key(image_sha256(await blobs.get(key))))
            except Exception as exc:  # reported with its key, retried by the next run
                failures[key] = f"vision cache entry of this screenshot: {type(exc).__name__}: {exc}"
        if not failures:
            deletion = await blobs.delete_prefix(prefix)
            report.blobs_deleted += len(deletion.deleted)
            report.bytes_freed += deletion.size_bytes
            failures |= deletion.failed
    except Exception as exc:  # the store itself failed (listing, network): the whole folder is left
        failures[prefix] = f"{type(exc).__name__}: {exc}"
    for key, reason in failures.items():
        log.warning("erasure.blob_failed", session_id=str(session_id), key=key, error=reason)
    report.blob_failures |= failures
