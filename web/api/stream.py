"""The WebSocket ingest: the same wire batches as REST, each acked with its highest seq."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from litestar import WebSocket, websocket
from litestar.exceptions import HTTPException, WebSocketDisconnect
from litestar.params import FromPath

from lab.capture.ingest import SessionClosedError
from lab.capture.wire import EnvelopeError
from lab.db.models import Participant
from lab.monitoring import metrics
from web.api.sessions import SERVER_ERROR_MESSAGE, batch_seqs, owned_session, read_batch, store_batch
from web.auth import participant_guard
from web.services import ServicesDep

log = structlog.get_logger(__name__)


def error_message(field: str, message: str) -> dict[str, Any]:
    return {"type": "error", "field": field, "message": message}


@websocket("/ws/v1/sessions/{session_id:uuid}", guards=[participant_guard])
async def session_stream(
    socket: WebSocket[Participant, Any, Any], session_id: FromPath[uuid.UUID], services: ServicesDep
) -> None:
    try:
        session = await owned_session(services, socket.user, session_id)
    except HTTPException as exc:
        await socket.accept()
        await socket.send_json(error_message("session_id", exc.detail))
        await socket.close(code=4404 if exc.status_code == 404 else 4403)
        return
    await socket.accept()
    log.info("ws.connected", session_id=str(session_id))
    # Open from accept to disconnect; each web process reports its own, Prometheus sums them.
    with metrics.INGEST_WEBSOCKETS_OPEN.track_inprogress():
        while True:
            try:
                raw = await socket.receive_data(mode="text")
            except WebSocketDisconnect:
                log.info("ws.disconnected", session_id=str(session_id))
                return
            try:
                body = read_batch(raw)
            except ValueError as exc:
                metrics.count_batch("ws", "malformed")
                field, _, message = str(exc).partition(": ")
                await socket.send_json(error_message(field, message))
                continue
            try:
                ack = await store_batch(services, session, body, "ws")
            except EnvelopeError as exc:
                field, _, message = str(exc).partition(": ")
                await socket.send_json(error_message(field, message))
                continue
            except SessionClosedError as exc:
                await socket.send_json(error_message("session_id", str(exc)))
                continue
            except Exception:
                # Ours, not the client's (storage down, a database error): nothing of this batch is
                # stored (one transaction), earlier acks stand, and the extension resends it after a backoff.
                log.exception("ws.batch_failed", session_id=str(session_id), **batch_seqs(body))
                await socket.send_json(error_message("server", SERVER_ERROR_MESSAGE))
                continue
            await socket.send_json(ack.model_dump(mode="json"))
