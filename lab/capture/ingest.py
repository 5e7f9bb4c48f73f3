"""The one place that writes sessions and their events to the database.

REST and WebSocket both land here. A batch is stored in one transaction;
a resent event (same session and seq) is a no-op and is reported as a duplicate.
An event the database refuses (a value out of a column's range, a constraint) is reported as that
event's error and the rest of the batch is stored: retrying it could never succeed. A failure on our
side (the blob store, the connection) fails the whole batch, which the client sends again.
Every event is scrubbed of personal patterns (lab/privacy) before it is stored: the
browser masks first, this is the second line of defence.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.capture.media import (
    audio_key,
    decode_snapshot,
    decode_webm,
    decode_webp,
    screenshot_key,
    snapshot_key,
)
from lab.capture.wire import (
    BLOB_FIELDS,
    AudioEvent,
    BatchAck,
    ClickEvent,
    DoubleClickEvent,
    EventError,
    InputEvent,
    PageEvent,
    ScreenshotEvent,
    SessionOpen,
    SnapshotEvent,
)
from lab.db.models import Event, Page, Screenshot, SelectorCandidate, Session
from lab.db.notify import notify
from lab.monitoring import metrics
from lab.privacy.scrub import ScrubReport, scrub_value
from lab.storage.blobs import BlobStore

__all__ = [
    "SessionClosedError",
    "complete_session",
    "decode_webp",
    "ingest_batch",
    "link_events_to_pages",
    "open_session",
    "screenshot_key",
]

log = structlog.get_logger(__name__)

# Never scrubbed: binary data URLs, perceptual hashes, numbers.
SCRUB_SKIP_KEYS = frozenset({"image", "data", "dhash"})
_CONTENT_TYPES = {"screenshot": "image/webp", "snapshot": "application/gzip", "audio": "audio/webm"}
# SQLSTATE classes in which Postgres refuses the row itself, not the request or the server: 22 data
# exception (a value out of range, invalid text for a type), 23 integrity constraint violation
# (https://www.postgresql.org/docs/current/errcodes-appendix.html). Anything else (connection, disk,
# deadlock, shutdown) is ours and fails the whole batch.
ROW_REFUSED_SQLSTATE_CLASSES = ("22", "23")
# Longest reason quoted back to the client and into the log.
MAX_REASON_CHARS = 200
# asyncpg's own refusal of a parameter it cannot encode quotes the value; only the reason in brackets is kept.
_DRIVER_INPUT_ERROR = re.compile(r"^invalid input for query argument \$\d+: .*\((?P<reason>[^()]*)\)$", re.DOTALL)

Blob = tuple[str, bytes]


class SessionClosedError(Exception):
    """Events were sent to a session that has already been completed."""


async def open_session(s: AsyncSession, participant_id: uuid.UUID | None, body: SessionOpen) -> Session:
    session = Session(
        participant_id=participant_id,
        mode=body.mode,
        site=body.site,
        site_version=body.site_version,
        start_url=scrub_value(body.start_url),
        user_agent=body.user_agent,
    )
    s.add(session)
    await s.flush()
    await notify(s, {"type": "session.opened", "session_id": str(session.id), "status": session.status})
    return session


def scrub_event(event: Any, report: ScrubReport) -> Any:
    """The event with emails, phone and card numbers masked in every text field (binary data kept)."""
    blob_field = BLOB_FIELDS.get(event.type)
    raw = event.model_dump(mode="json", exclude={blob_field} if blob_field else None)
    before = sum(report.counts.values())
    clean = scrub_value(raw, report, skip_keys=SCRUB_SKIP_KEYS)
    if sum(report.counts.values()) == before:
        return event
    if blob_field:
        clean[blob_field] = getattr(event, blob_field)
    return type(event).model_validate(clean)


def _blob_of(session_id: uuid.UUID, event: Any, report: ScrubReport) -> tuple[str, bytes] | None:
    """The blob key and bytes an event carries; ValueError naming the field when they are not what they claim."""
    if isinstance(event, ScreenshotEvent):
        return screenshot_key(session_id, event.seq), decode_webp(event.image)
    if isinstance(event, SnapshotEvent):
        return snapshot_key(session_id, event.seq), decode_snapshot(event.data, report)
    if isinstance(event, AudioEvent):
        return audio_key(session_id, event.seq), decode_webm(event.data)
    return None


def _payload(event: Any, blob: tuple[str, bytes] | None) -> dict[str, Any]:
    blob_field = BLOB_FIELDS.get(event.type)
    payload = dict(event.model_dump(mode="json", exclude={blob_field} if blob_field else None))
    if blob is not None and not isinstance(event, ScreenshotEvent):
        payload["blob_key"], payload["blob_bytes"] = blob[0], len(blob[1])
    return payload


def _batch_positions(valid: int, errors: list[EventError]) -> list[int]:
    """Where each of `valid` events that passed validation stood in the batch (the others have an error)."""
    invalid = {e.index for e in errors}
    return [i for i in range(valid + len(invalid)) if i not in invalid]


async def ingest_batch(
    s: AsyncSession,
    blobs: BlobStore,
    session: Session,
    events: list[Any],
    errors: list[EventError],
) -> BatchAck:
    """Store the valid events of a batch; returns the ack with what was kept and refused.

    Acked seqs (accepted, duplicates) are exactly those stored; each refused event has one error naming
    `events[<index>]`. Raises on a failure of ours (storage, connection): then nothing of the batch is kept.
    """
    if session.status != "recording":
        raise SessionClosedError(f"session {session.id} is {session.status}; it takes no more events")
    session_id = session.id
    positions = _batch_positions(len(events), errors)
    errors = list(errors)
    ready: list[tuple[int, Any, Blob | None]] = []
    report = ScrubReport()
    invalid_types: list[str] = []  # events whose scrubbed copy no longer validates
    refused_types: list[str] = []
    for index, event in zip(positions, events, strict=True):
        try:
            clean = scrub_event(event, report)
            ready.append((index, clean, _blob_of(session_id, clean, report)))
        except ValueError as exc:  # ValidationError is a ValueError too
            field, _, message = str(exc).partition(": ")
            if isinstance(exc, ValidationError):
                field, message = "type", f"the scrubbed event no longer validates: {exc.errors()[0]['msg']}"
            errors.append(EventError(index=index, seq=event.seq, field=f"events[{index}].{field}", message=message))
            invalid_types.append(event.type)
    if report:
        log.warning("privacy.scrubbed", session_id=str(session_id), counts=report.as_dict())
    try:
        async with s.begin_nested():
            stored = [(event, blob, await _insert_rows(s, session_id, event, blob)) for _, event, blob in ready]
    except DBAPIError as exc:
        if not refused_by_database(exc):
            raise
        # One event is to blame: store them one by one to find which, keeping all the others.
        stored = []
        for index, event, blob in ready:
            try:
                async with s.begin_nested():
                    stored.append((event, blob, await _insert_rows(s, session_id, event, blob)))
            except DBAPIError as refusal:
                if not refused_by_database(refusal):
                    raise
                errors.append(_refused(session_id, index, event, refusal))
                refused_types.append(event.type)
    accepted = [event.seq for event, _, event_id in stored if event_id is not None]
    duplicates = [event.seq for event, _, event_id in stored if event_id is None]
    # Blobs only for rows the database took, so a refused event leaves no file behind.
    for event, blob, event_id in stored:
        if event_id is not None and blob is not None:
            await blobs.put(blob[0], blob[1], content_type=_CONTENT_TYPES[event.type])
    if accepted:
        await link_events_to_pages(s, session_id)
        await notify(s, {"type": "session.events", "session_id": str(session_id), "accepted": len(accepted)})
    stored_seqs = accepted + duplicates
    # Counted once nothing of ours can fail any more (the caller's commit aside), so a batch that fails is not counted.
    metrics.count_events("stored", [event.type for event, _, event_id in stored if event_id is not None])
    metrics.count_events("duplicate", [event.type for event, _, event_id in stored if event_id is None])
    metrics.count_events("invalid", invalid_types)
    metrics.count_events("refused", refused_types)
    new_blobs = [(event, blob) for event, blob, event_id in stored if event_id is not None and blob is not None]
    metrics.INGEST_SCREENSHOT_BYTES.inc(sum(len(blob[1]) for event, blob in new_blobs if event.type == "screenshot"))
    errors.sort(key=lambda e: e.index)
    return BatchAck(
        ack_seq=max(stored_seqs) if stored_seqs else None, accepted=accepted, duplicates=duplicates, errors=errors
    )


def refused_by_database(exc: DBAPIError) -> bool:
    """True when Postgres (or the driver, before sending) refused the row itself, so a retry cannot help."""
    if exc.connection_invalidated:
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in ROW_REFUSED_SQLSTATE_CLASSES
    # asyncpg's DataError for a parameter it cannot encode (an int beyond the column's type) is a ValueError.
    return isinstance(_driver_error(exc), ValueError)


def _driver_error(exc: DBAPIError) -> BaseException:
    """The driver's own exception (asyncpg's) under SQLAlchemy's wrappers."""
    return getattr(exc.orig, "__cause__", None) or exc.orig or exc


def refusal_reason(exc: DBAPIError) -> str:
    """What the database said, in one short line without the SQL or the value."""
    cause = _driver_error(exc)
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    driver = _DRIVER_INPUT_ERROR.match(message)
    return (driver.group("reason") if driver else message)[:MAX_REASON_CHARS]


def _refused(session_id: uuid.UUID, index: int, event: Any, exc: DBAPIError) -> EventError:
    """The error entry of an event the database refused, logged for operators."""
    reason = refusal_reason(exc)
    cause = _driver_error(exc)
    log.warning(
        "ingest.event_refused",
        session_id=str(session_id),
        seq=event.seq,
        event_type=event.type,
        index=index,
        error_class=type(cause).__name__,
        sqlstate=getattr(exc.orig, "sqlstate", None),
        reason=reason,
    )
    return EventError(index=index, seq=event.seq, field=f"events[{index}]", message=f"could not be stored: {reason}")


async def _insert_rows(s: AsyncSession, session_id: uuid.UUID, event: Any, blob: Blob | None) -> int | None:
    """Insert an event and the rows that hang off it (flushed); its id, or None when it was stored before."""
    event_id = await _insert_event(s, session_id, event, blob)
    if event_id is not None:
        await _insert_details(s, session_id, event_id, event, blob)
    return event_id


async def _insert_event(s: AsyncSession, session_id: uuid.UUID, event: Any, blob: Blob | None) -> int | None:
    stmt = (
        insert(Event)
        .values(
            session_id=session_id,
            seq=event.seq,
            type=event.type,
            t=datetime.fromtimestamp(event.t / 1000, UTC),
            url=event.url,
            payload=_payload(event, blob),
            received_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(constraint="uq_events_session_seq")
        .returning(Event.__table__.c.id)  # type: ignore[attr-defined]
    )
    return (await s.exec(stmt)).scalar_one_or_none()


async def _insert_details(
    s: AsyncSession,
    session_id: uuid.UUID,
    event_id: int,
    event: Any,
    blob: Blob | None,
) -> None:
    if isinstance(event, PageEvent):
        s.add(
            Page(
                session_id=session_id,
                seq=event.seq,
                url=event.url,
                title=event.title,
                structure=event.structure.model_dump(mode="json"),
            )
        )
    elif isinstance(event, ClickEvent | DoubleClickEvent | InputEvent):
        for rank, candidate in enumerate(event.selectors.candidates):
            s.add(
                SelectorCandidate(
                    session_id=session_id,
                    event_id=event_id,
                    kind=candidate.kind,
                    value=candidate.selector,
                    rank=rank,
                    score=candidate.score,
                )
            )
    elif isinstance(event, ScreenshotEvent) and blob is not None:
        s.add(
            Screenshot(
                session_id=session_id,
                event_id=event_id,
                for_seq=event.for_seq,
                reason=event.reason,
                blob_key=blob[0],
                size_bytes=len(blob[1]),
                width=event.width,
                height=event.height,
            )
        )
    await s.flush()


async def link_events_to_pages(s: AsyncSession, session_id: uuid.UUID) -> None:
    """Point each event at the page it happened on: the latest page event at or before it."""
    pages, events = Page.__table__, Event.__table__  # type: ignore[attr-defined]
    latest_page = (
        select(pages.c.id)
        .where(pages.c.session_id == events.c.session_id, pages.c.seq <= events.c.seq)
        .order_by(pages.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    await s.exec(
        update(events).where(events.c.session_id == session_id, events.c.page_id.is_(None)).values(page_id=latest_page)
    )


async def complete_session(s: AsyncSession, session: Session) -> bool:
    """End a recording session; False when it had already been completed."""
    if session.status != "recording":
        return False
    session.status = "processing"
    session.ended_at = datetime.now(UTC)
    s.add(session)
    await link_events_to_pages(s, session.id)
    await s.flush()
    await notify(s, {"type": "session.status", "session_id": str(session.id), "status": session.status})
    return True
