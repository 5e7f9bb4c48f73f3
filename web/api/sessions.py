"""Ingest (participants) and reads (dashboard users) of sessions, over HTTPS."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import structlog
from litestar import Controller, Request, Response, delete, get, post
from litestar.exceptions import ClientException, HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_409_CONFLICT,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.capture import ingest, views
from lab.capture.wire import BatchAck, EnvelopeError, SessionOpen, SessionOpened, parse_batch
from lab.db.models import Participant, Session, User
from lab.monitoring import metrics
from lab.quality.review import record_review
from web.api.participants import erased
from web.auth import admin_guard, participant_guard, reader_guard, reviewer_guard
from web.services import Services, ServicesDep
from workers.tasks import ResumeRefusedError, pipeline_busy, resume_pipeline, start_pipeline

log = structlog.get_logger(__name__)

# What a client is told of a batch that failed on our side, over REST (a 503) and the WebSocket (an error
# frame); extension/recorder.js resends it after a backoff.
SERVER_ERROR_MESSAGE = "the batch could not be stored because of a server error; nothing of it was kept, send it again"


class ReviewBody(BaseModel):
    decision: str
    reason: str = ""


async def overview_or_404(s: AsyncSession, session_id: uuid.UUID) -> views.SessionOverview:
    """The session's overview (lab.capture.views), or a 404 naming it."""
    try:
        return await views.session_overview(s, session_id)
    except LookupError as exc:
        raise NotFoundException(str(exc)) from exc


def ws_path(session_id: uuid.UUID) -> str:
    return f"/ws/v1/sessions/{session_id}"


async def owned_session(services: Services, participant: Participant, session_id: uuid.UUID) -> Session:
    """The participant's own recording session, or a 404 / 403 naming the problem."""
    async with services.db.session() as s:
        session = await s.get(Session, session_id)
    if session is None:
        raise NotFoundException(f"session {session_id} does not exist")
    if session.participant_id != participant.id:
        raise PermissionDeniedException(f"session {session_id} belongs to another participant")
    return session


def read_batch(raw: str | bytes) -> object:
    """A batch's JSON, read as the WebSocket reads it; ValueError naming the body when it is not JSON.

    Python's reader, not msgspec: it takes a lone UTF-16 surrogate ("\\ud83d", what JSON.stringify writes
    for half an emoji), which parse_batch then replaces, where msgspec would refuse the whole batch.
    """
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, and an integer too long to read
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or type(exc).__name__
        raise ValueError(f"body: not valid JSON ({reason})") from exc


def batch_seqs(body: object) -> dict[str, Any]:
    """Which seqs a batch claims to carry (first, last, how many), for the log line of one that failed."""
    events = body.get("events") if isinstance(body, dict) else None
    events = events if isinstance(events, list) else []
    seqs = [e["seq"] for e in events if isinstance(e, dict) and isinstance(e.get("seq"), int)]
    return {"seq_first": min(seqs, default=None), "seq_last": max(seqs, default=None), "events": len(seqs)}


async def store_batch(services: Services, session: Session, body: object, transport: str) -> BatchAck:
    """Validate and store one batch; shared by REST and the WebSocket (`transport`: rest, ws), timed and counted."""
    try:
        with metrics.INGEST_BATCH_STORE_SECONDS.labels(transport=transport).time():
            events, errors = parse_batch(body)
            async with services.db.session() as s:
                fresh = await s.get(Session, session.id)
                assert fresh is not None
                ack = await ingest.ingest_batch(s, services.blobs, fresh, events, errors)
    except EnvelopeError:
        metrics.count_batch(transport, "malformed")
        raise
    except ingest.SessionClosedError:
        metrics.count_batch(transport, "closed")
        raise
    except Exception:
        metrics.count_batch(transport, "failed")
        raise
    # ingest counts the events it judged; those the wire schema refused are counted here, where their raw type is.
    metrics.count_invalid_events(body, (e.index for e in errors))
    metrics.count_batch(transport, metrics.batch_outcome(ack))
    return ack


class SessionController(Controller):
    """Participants open, feed and complete sessions; dashboard users read them."""

    path = "/api/v1/sessions"
    tags = ["sessions"]

    @post("/", guards=[participant_guard], status_code=HTTP_201_CREATED)
    async def open_session(
        self, request: Request[Participant, Any, Any], data: JSONBody[SessionOpen], services: ServicesDep
    ) -> SessionOpened:
        async with services.db.session() as s:
            session = await ingest.open_session(s, request.user.id, data)
        return SessionOpened(id=str(session.id), ws_url=ws_path(session.id))

    @post("/{session_id:uuid}/events", guards=[participant_guard], status_code=200)
    async def post_events(
        self, request: Request[Participant, Any, Any], session_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> Response[BatchAck]:
        session = await owned_session(services, request.user, session_id)
        try:
            body = read_batch(await request.body())
        except ValueError as exc:  # the body is the client's: say what is wrong with it
            metrics.count_batch("rest", "malformed")
            raise ClientException(str(exc)) from exc
        try:
            ack = await store_batch(services, session, body, "rest")
        except EnvelopeError as exc:
            raise ClientException(str(exc)) from exc
        except ingest.SessionClosedError as exc:
            raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from exc
        except Exception as exc:
            # Ours, not the client's (storage down, a database error): nothing of this batch is stored
            # (one transaction), earlier acks stand, and the client may send it again.
            log.exception("api.batch_failed", session_id=str(session_id), **batch_seqs(body))
            raise HTTPException(
                SERVER_ERROR_MESSAGE, status_code=HTTP_503_SERVICE_UNAVAILABLE, extra={"field": "server"}
            ) from exc
        status = 200 if not ack.errors else 422 if not (ack.accepted or ack.duplicates) else 207
        return Response(ack, status_code=status)

    @post("/{session_id:uuid}/complete", guards=[participant_guard], status_code=HTTP_202_ACCEPTED)
    async def complete(
        self, request: Request[Participant, Any, Any], session_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> dict[str, Any]:
        session = await owned_session(services, request.user, session_id)
        async with services.db.session() as s:
            fresh = await s.get(Session, session.id)
            assert fresh is not None
            started = await ingest.complete_session(s, fresh)
        if started:
            await start_pipeline(services.queue, services.db, session_id)
        elif fresh.status == "processing" and not await pipeline_busy(services.queue, session_id):
            # A retried complete whose first try ended the session but never queued its pipeline.
            with contextlib.suppress(ResumeRefusedError):
                await resume_pipeline(services.queue, services.db, session_id)
        return {"id": str(session_id), "status": "processing" if started else fresh.status}

    @post("/{session_id:uuid}/pipeline/resume", guards=[reviewer_guard], status_code=HTTP_202_ACCEPTED)
    async def resume(self, session_id: FromPath[uuid.UUID], services: ServicesDep) -> dict[str, Any]:
        """Run a stopped pipeline again from its first unfinished step (after a step failed on every attempt)."""
        try:
            step = await resume_pipeline(services.queue, services.db, session_id)
        except LookupError as exc:
            raise NotFoundException(str(exc)) from exc
        except ResumeRefusedError as exc:
            raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from exc
        return {"id": str(session_id), "status": "processing", "step": step}

    @get("/", guards=[reader_guard])
    async def list_sessions(
        self,
        request: Request[User, Any, Any],
        services: ServicesDep,
        limit: FromQuery[int] = 50,
        before: FromQuery[uuid.UUID | None] = None,
        site: FromQuery[str | None] = None,
        mode: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        review: FromQuery[str | None] = None,
    ) -> Response[list[dict[str, Any]]]:
        """Newest first, filtered; a `Link: <…?before=ID>; rel="next"` header when older sessions remain."""
        filters = views.SessionFilter(site=site, mode=mode, status=status, review=review)
        try:
            async with services.db.session() as s:
                page = await views.list_sessions(s, limit=limit, filters=filters, before=before)
        except (ValueError, LookupError) as exc:
            raise ClientException(str(exc)) from exc
        headers = {}
        if page.next_before is not None:
            query = urlencode({**filters.query(), "limit": limit, "before": page.next_before})
            headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
        return Response([row.as_json() for row in page.rows], headers=headers)

    @get("/{session_id:uuid}", guards=[reader_guard])
    async def get_session(self, session_id: FromPath[uuid.UUID], services: ServicesDep) -> dict[str, Any]:
        async with services.db.session() as s:
            overview = await overview_or_404(s, session_id)
        session = overview.session
        body = overview.row.as_json()
        body["pipeline"] = overview.steps
        body["quality"] = session.quality
        body["archive_key"] = session.archive_key
        body["archive_bytes"] = session.archive_bytes
        body["review_status"] = session.review_status
        body["review_reason"] = session.review_reason
        return body

    @post("/{session_id:uuid}/review", guards=[reviewer_guard], status_code=200)
    async def review(
        self,
        request: Request[User, Any, Any],
        session_id: FromPath[uuid.UUID],
        data: JSONBody[ReviewBody],
        services: ServicesDep,
    ) -> dict[str, Any]:
        """A QA reviewer accepts or rejects a session; only accepted sessions feed training."""
        async with services.db.session() as s:
            session = await s.get(Session, session_id)
            if session is None:
                raise NotFoundException(f"session {session_id} does not exist")
            try:
                await record_review(s, session, data.decision, data.reason, request.user.id)
            except ValueError as exc:
                raise ClientException(str(exc)) from exc
        return {"id": str(session_id), "review_status": session.review_status, "review_reason": session.review_reason}

    @get("/{session_id:uuid}/training.jsonl", guards=[reader_guard], media_type="application/jsonl")
    async def training(self, session_id: FromPath[uuid.UUID], services: ServicesDep) -> str:
        async with services.db.session() as s:
            if await s.get(Session, session_id) is None:
                raise NotFoundException(f"session {session_id} does not exist")
            return await views.training_jsonl(s, session_id)

    @delete("/{session_id:uuid}", guards=[admin_guard], status_code=200)
    async def erase(
        self, request: Request[User, Any, Any], session_id: FromPath[uuid.UUID], services: ServicesDep
    ) -> dict[str, Any]:
        """Erase the session everywhere (rows, blobs, archive); 409 while its pipeline is queued or running."""
        report = await erased(services, request.user, "session", session_id)
        return report.to_dict()
