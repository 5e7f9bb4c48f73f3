"""The one place that writes sessions and their events to the database.

REST and WebSocket both land here. A batch is stored in one transaction;
a resent event (same session and seq) is a no-op and is reported as a duplicate.
Every event is scrubbed of personal patterns (lab/privacy) before it is stored: the
browser masks first, this is the second line of defence.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
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


async def ingest_batch(
    s: AsyncSession,
    blobs: BlobStore,
    session: Session,
    events: list[Any],
    errors: list[EventError],
) -> BatchAck:
    """Store the valid events of a batch; returns the ack with what was kept and refused."""
    if session.status != "recording":
        raise SessionClosedError(f"session {session.id} is {session.status}; it takes no more events")
    errors = list(errors)
    accepted: list[int] = []
    duplicates: list[int] = []
    ready: list[tuple[Any, tuple[str, bytes] | None]] = []
    report = ScrubReport()
    for index, event in enumerate(events):
        try:
            clean = scrub_event(event, report)
            ready.append((clean, _blob_of(session.id, clean, report)))
        except ValueError as exc:  # ValidationError is a ValueError too
            field, _, message = str(exc).partition(": ")
            if isinstance(exc, ValidationError):
                field, message = "type", f"the scrubbed event no longer validates: {exc.errors()[0]['msg']}"
            errors.append(EventError(index=index, seq=event.seq, field=field, message=message))
    if report:
        log.warning("privacy.scrubbed", session_id=str(session.id), counts=report.as_dict())
    for event, blob in ready:
        event_id = await _insert_event(s, session.id, event, blob)
        if event_id is None:
            duplicates.append(event.seq)
            continue
        accepted.append(event.seq)
        await _insert_details(s, blobs, session.id, event_id, event, blob)
    if accepted:
        await link_events_to_pages(s, session.id)
        await notify(s, {"type": "session.events", "session_id": str(session.id), "accepted": len(accepted)})
    stored = accepted + duplicates
    return BatchAck(ack_seq=max(stored) if stored else None, accepted=accepted, duplicates=duplicates, errors=errors)


async def _insert_event(
    s: AsyncSession, session_id: uuid.UUID, event: Any, blob: tuple[str, bytes] | None
) -> int | None:
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
    blobs: BlobStore,
    session_id: uuid.UUID,
    event_id: int,
    event: Any,
    blob: tuple[str, bytes] | None,
) -> None:
    if blob is not None:
        await blobs.put(blob[0], blob[1], content_type=_CONTENT_TYPES[event.type])
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
