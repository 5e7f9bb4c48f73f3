"""The one place that writes sessions and their events to the database.

REST and WebSocket both land here. A batch is stored in one transaction;
a resent event (same session and seq) is a no-op and is reported as a duplicate.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.capture.wire import (
    BatchAck,
    ClickEvent,
    EventError,
    InputEvent,
    PageEvent,
    ScreenshotEvent,
    SessionOpen,
)
from lab.db.models import Event, Page, Screenshot, SelectorCandidate, Session
from lab.storage.blobs import BlobStore

WEBP_MAGIC = (b"RIFF", b"WEBP")


class SessionClosedError(Exception):
    """Events were sent to a session that has already been completed."""


def screenshot_key(session_id: uuid.UUID, seq: int) -> str:
    return f"sessions/{session_id}/screenshots/{seq}.webp"


async def open_session(s: AsyncSession, participant_id: uuid.UUID | None, body: SessionOpen) -> Session:
    session = Session(
        participant_id=participant_id,
        mode=body.mode,
        site=body.site,
        site_version=body.site_version,
        start_url=body.start_url,
        user_agent=body.user_agent,
    )
    s.add(session)
    await s.flush()
    return session


def decode_webp(data_url: str) -> bytes:
    """The bytes of a `data:image/webp;base64,` URL; ValueError when it is not a WebP."""
    try:
        data = base64.b64decode(data_url.split(",", 1)[1], validate=True)
    except (binascii.Error, IndexError) as exc:
        raise ValueError("image: not valid base64") from exc
    if data[:4] != WEBP_MAGIC[0] or data[8:12] != WEBP_MAGIC[1]:
        raise ValueError("image: not a WebP file")
    return data


def _payload(event: Any) -> dict[str, Any]:
    exclude = {"image"} if isinstance(event, ScreenshotEvent) else set()
    return dict(event.model_dump(mode="json", exclude=exclude))


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
    images: dict[int, bytes] = {}
    for index, event in enumerate(events):
        if isinstance(event, ScreenshotEvent):
            try:
                images[event.seq] = decode_webp(event.image)
            except ValueError as exc:
                errors.append(EventError(index=index, seq=event.seq, field="image", message=str(exc)))
    for event in events:
        if isinstance(event, ScreenshotEvent) and event.seq not in images:
            continue
        event_id = await _insert_event(s, session.id, event)
        if event_id is None:
            duplicates.append(event.seq)
            continue
        accepted.append(event.seq)
        await _insert_details(s, blobs, session.id, event_id, event, images.get(event.seq))
    if accepted:
        await link_events_to_pages(s, session.id)
    stored = accepted + duplicates
    return BatchAck(ack_seq=max(stored) if stored else None, accepted=accepted, duplicates=duplicates, errors=errors)


async def _insert_event(s: AsyncSession, session_id: uuid.UUID, event: Any) -> int | None:
    stmt = (
        insert(Event)
        .values(
            session_id=session_id,
            seq=event.seq,
            type=event.type,
            t=datetime.fromtimestamp(event.t / 1000, UTC),
            url=event.url,
            payload=_payload(event),
            received_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(constraint="uq_events_session_seq")
        .returning(Event.__table__.c.id)  # type: ignore[attr-defined]
    )
    return (await s.exec(stmt)).scalar_one_or_none()


async def _insert_details(
    s: AsyncSession, blobs: BlobStore, session_id: uuid.UUID, event_id: int, event: Any, image: bytes | None
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
    elif isinstance(event, ClickEvent | InputEvent):
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
    elif isinstance(event, ScreenshotEvent) and image is not None:
        key = screenshot_key(session_id, event.seq)
        await blobs.put(key, image, content_type="image/webp")
        s.add(
            Screenshot(
                session_id=session_id,
                event_id=event_id,
                for_seq=event.for_seq,
                reason=event.reason,
                blob_key=key,
                size_bytes=len(image),
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
    return True
