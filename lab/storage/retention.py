"""Working copies expire: once a session's archive is old enough, its loose files are deleted.

A session's screenshots, DOM snapshots and audio are stored loose while it is processed and for
`CODESIGHT_WORKING_COPY_DAYS` after its archive was written (the archive step's done time), for
the dashboard and evaluation. Then only the archive remains; readers get the files from it
(lab.storage.fallback). A session's loose files go only when its archive opens with the key and
holds every one of them: the only copy of a file is never deleted.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlmodel import col, select

from lab.config import Settings
from lab.db.engine import Database
from lab.db.models import PipelineStep, Session
from lab.monitoring import metrics
from lab.storage.archive import ArchiveError, archive_blob_key, open_archive
from lab.storage.blobs import BlobStore
from lab.storage.fallback import WORKING_COPY_FOLDERS
from lab.storage.keys import load_or_create_archive_key

log = structlog.get_logger(__name__)

# Sessions handled per call; the periodic task runs again soon and takes the next ones, oldest first.
EXPIRY_BATCH_SESSIONS = 200


@dataclass
class ExpiryReport:
    """What one round did: sessions whose copies went, bytes freed, and sessions kept (id -> why)."""

    expired: list[uuid.UUID] = field(default_factory=list)
    size_bytes: int = 0
    kept: dict[uuid.UUID, str] = field(default_factory=dict)


def session_folders(session_id: uuid.UUID) -> dict[str, str]:
    """Each working-copy folder of a session (as the archive names it) and its blob prefix."""
    return {folder: f"sessions/{session_id}/{folder}" for folder in WORKING_COPY_FOLDERS}


async def sessions_due(db: Database, archived_before: datetime, limit: int) -> list[uuid.UUID]:
    """Done sessions with an archive written before `archived_before` whose working copies are still kept."""
    query = (
        select(Session.id)
        .join(PipelineStep, (col(PipelineStep.session_id) == col(Session.id)) & (col(PipelineStep.step) == "archive"))
        .where(
            col(Session.status) == "done",
            col(Session.archive_key).is_not(None),
            col(Session.working_copies_deleted_at).is_(None),
            col(PipelineStep.status) == "done",
            col(PipelineStep.updated_at) <= archived_before,
        )
        .order_by(col(PipelineStep.updated_at))
        .limit(limit)
    )
    async with db.session() as s:
        return list((await s.exec(query)).all())


async def expire_working_copies(
    db: Database, blobs: BlobStore, settings: Settings, now: datetime, limit: int = EXPIRY_BATCH_SESSIONS
) -> ExpiryReport:
    """Delete the loose files of sessions archived more than `settings.working_copy_days` before `now`
    and record it on the session; sessions whose archive cannot vouch for every file are kept and logged."""
    report = ExpiryReport()
    due = await sessions_due(db, now - timedelta(days=settings.working_copy_days), limit)
    if not due:
        return report
    key = await asyncio.to_thread(load_or_create_archive_key, settings)
    for session_id in due:
        reason = await _archive_lacks(blobs, key, session_id)
        if reason is not None:
            report.kept[session_id] = reason
            metrics.WORKING_COPIES_KEPT.inc()
            log.warning("working_copies.kept", session_id=str(session_id), reason=reason)
            continue
        deleted, size_bytes = 0, 0
        failed: dict[str, str] = {}
        for prefix in session_folders(session_id).values():
            deletion = await blobs.delete_prefix(prefix)
            deleted += len(deletion.deleted)
            size_bytes += deletion.size_bytes
            failed |= deletion.failed
        report.size_bytes += size_bytes
        metrics.WORKING_COPY_BYTES_FREED.inc(size_bytes)
        if failed:  # the rest went; the next round deletes what is left
            report.kept[session_id] = f"{len(failed)} files could not be deleted"
            log.warning("working_copies.delete_failed", session_id=str(session_id), failed=failed)
            continue
        async with db.session() as s:
            session = await s.get(Session, session_id)
            if session is None:  # erased meanwhile: its whole folder went with it
                continue
            session.working_copies_deleted_at = now
            s.add(session)
        report.expired.append(session_id)
        metrics.WORKING_COPIES_EXPIRED.inc()
        log.info("working_copies.expired", session_id=str(session_id), files=deleted, size_bytes=size_bytes)
    log.info(
        "working_copies.round",
        due=len(due),
        expired=len(report.expired),
        kept=len(report.kept),
        size_bytes=report.size_bytes,
        working_copy_days=settings.working_copy_days,
    )
    return report


async def _archive_lacks(blobs: BlobStore, key: bytes, session_id: uuid.UUID) -> str | None:
    """Why the session's loose files must stay (the archive is missing, does not open, or lacks one of
    them), or None when the archive holds every one."""
    folders = session_folders(session_id)
    archive_key = archive_blob_key(session_id)
    try:
        data = await blobs.get(archive_key)
    except FileNotFoundError:
        return f"no archive at {archive_key}"
    try:
        archive = await asyncio.to_thread(open_archive, data, key)
    except ArchiveError as exc:
        return f"archive does not open: {exc}"
    held = archive.folders()
    for folder, prefix in folders.items():
        missing = [name for name in await blobs.list(prefix) if name.removeprefix(prefix) not in held[folder]]
        if missing:
            return f"archive lacks {len(missing)} {folder.rstrip('/')} files, first {missing[0]}"
    return None
