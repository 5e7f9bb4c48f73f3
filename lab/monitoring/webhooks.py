"""Webhooks: the endpoints in CODESIGHT_WEBHOOK_URLS hear when a session is done, failed or waits for a
reviewer, when a fine-tuning run ends and when a model is deployed.

An event is queued (`enqueue`) in the same unit of work as the change that causes it, one row of
`webhook_deliveries` per endpoint: a transactional outbox, so a crash loses no event and a rolled-back
change sends none. The workers POST what is due (`deliver_due`) right after the steps that queue
events and once a minute for retries. Each POST follows the Standard Webhooks specification
(https://www.standardwebhooks.com/): headers `webhook-id`, `webhook-timestamp` and
`webhook-signature` (HMAC-SHA256 of "id.timestamp.body" with the `whsec_` secret, signed by the
`standardwebhooks` library, which receivers can verify with too); body
`{"type", "timestamp", "data"}`. Retries follow the schedule the specification's authors (Svix) use.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks import Webhook

from lab.config import Settings, get_settings
from lab.db.engine import Database
from lab.db.models import FINAL_RUN_STATUSES, WEBHOOK_EVENTS, Session, TrainingRun, WebhookDelivery, utcnow

log = structlog.get_logger(__name__)

# Delay before each retry after a failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (Svix's
# schedule, https://docs.svix.com/retries): an endpoint down for a day still gets the event.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A claimed delivery is someone's for this long; a worker that dies mid-POST leaves it to the next round.
CLAIM_LEASE = timedelta(minutes=2)
REQUEST_TIMEOUT_S = 10.0
PARALLEL_POSTS = 8
MAX_ERROR_CHARS = 500
USER_AGENT = "CodeSight-Webhooks/1"
# 410 Gone: the receiver says the endpoint is gone for good (the specification's advice: stop).
GONE = 410


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form (`whsec_` + base64 of 32 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def wanted(settings: Settings, event_type: str) -> bool:
    return bool(settings.webhook_urls) and (not settings.webhook_events or event_type in settings.webhook_events)


async def enqueue(
    s: AsyncSession, event_type: str, key: str, data: dict[str, Any], settings: Settings | None = None
) -> int:
    """Queue `event_type` for every endpoint, inside the caller's unit of work; returns rows queued.

    `key` names this occurrence of the event: queued again with the same key (a step that runs twice),
    it is not sent twice.
    """
    if event_type not in WEBHOOK_EVENTS:
        raise ValueError(f"event_type: {event_type!r} is not one of {WEBHOOK_EVENTS}")
    settings = settings or get_settings()
    if not wanted(settings, event_type):
        return 0
    now = utcnow()
    payload = {"type": event_type, "timestamp": now.isoformat(), "data": data}
    rows = [
        {
            "id": uuid.uuid4(),
            "event_type": event_type,
            "event_key": f"{event_type}:{key}",
            "url": url,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for url in settings.webhook_urls
    ]
    statement = insert(WebhookDelivery).values(rows).on_conflict_do_nothing(constraint="uq_webhook_event_url")
    result = await s.exec(statement)
    return int(result.rowcount or 0)


# --- the events ---------------------------------------------------------------------------------


def session_data(session: Session, settings: Settings) -> dict[str, Any]:
    data: dict[str, Any] = {
        "session_id": str(session.id),
        "site": session.site,
        "site_version": session.site_version,
        "mode": session.mode,
        "status": session.status,
        "quality_score": session.quality_score,
        "review_status": session.review_status,
    }
    if settings.public_url:
        data["url"] = f"{settings.public_url.rstrip('/')}/sessions/{session.id}"
    return data


async def session_finished(s: AsyncSession, session: Session, key: str = "") -> int:
    """`session.done` or `session.failed` (and `session.needs_review` when a reviewer must decide)."""
    settings = get_settings()
    data = session_data(session, settings)
    queued = await enqueue(s, f"session.{session.status}", f"{session.id}{key}", data, settings)
    if session.status == "done" and session.review_status == "needs_review":
        queued += await enqueue(s, "session.needs_review", str(session.id), data, settings)
    return queued


async def run_finished(s: AsyncSession, run: TrainingRun) -> int:
    """`training.run.succeeded`, `.failed` or `.cancelled`, once per run (nothing while it runs)."""
    if run.status not in FINAL_RUN_STATUSES:
        return 0
    settings = get_settings()
    data: dict[str, Any] = {
        "run_id": str(run.id),
        "site": run.site,
        "status": run.status,
        "provider": run.provider,
        "model": run.model,
        "fine_tuned_model": run.fine_tuned_model,
        "error": {"code": run.error_code, "message": run.error_message} if run.error_code else None,
    }
    if settings.public_url:
        data["url"] = f"{settings.public_url.rstrip('/')}/training/runs/{run.id}"
    return await enqueue(s, f"training.run.{run.status}", str(run.id), data, settings)


async def model_deployed(
    s: AsyncSession, key: str, site: str, model: str, run_id: uuid.UUID | None, rolled_back: str | None = None
) -> int:
    """`model.deployed`: `model` now answers the site's predictions (`rolled_back`: the model it replaced
    by a roll back)."""
    data = {"site": site, "model": model, "run_id": str(run_id) if run_id else None, "rolled_back": rolled_back}
    return await enqueue(s, "model.deployed", key, data)


# --- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryRound:
    delivered: int
    retrying: int
    failed: int


async def deliver_due(
    db: Database, settings: Settings | None = None, limit: int = 100, client: httpx.AsyncClient | None = None
) -> DeliveryRound:
    """POST every delivery that is due (up to `limit`), and record each outcome."""
    settings = settings or get_settings()
    now = utcnow()
    # Claimed by moving next_attempt_at past a lease, in a short transaction: the POSTs hold no lock, and
    # a worker that dies before recording them leaves the rows due again once the lease ends.
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == "pending", col(WebhookDelivery.next_attempt_at) <= now)
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claim = (
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(due.scalar_subquery()))
        .values(next_attempt_at=now + CLAIM_LEASE)
        .returning(col(WebhookDelivery.id), col(WebhookDelivery.url))
        .returning(col(WebhookDelivery.payload), col(WebhookDelivery.attempts))
    )
    async with db.session() as s:
        claimed = (await s.exec(claim)).all()
    if not claimed:
        return DeliveryRound(0, 0, 0)
    if not settings.webhook_secret:
        raise RuntimeError("CODESIGHT_WEBHOOK_SECRET: required to sign webhook deliveries")
    signer = Webhook(settings.webhook_secret)
    limiter = asyncio.Semaphore(PARALLEL_POSTS)
    owned = client is None
    client = client or httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, headers={"user-agent": USER_AGENT})
    try:

        async def post(row: Any) -> tuple[uuid.UUID, int, int | None, str | None]:
            async with limiter:
                code, error = await _post(client, signer, row.id, row.url, row.payload)
            return row.id, row.attempts + 1, code, error

        outcomes = await asyncio.gather(*(post(row) for row in claimed))
    finally:
        if owned:
            await client.aclose()
    return await _record(db, outcomes)


async def _post(
    client: httpx.AsyncClient, signer: Webhook, delivery_id: uuid.UUID, url: str, payload: dict[str, Any]
) -> tuple[int | None, str | None]:
    """One signed POST: (status code, error); error None when the endpoint answered 2xx."""
    body = json.dumps(payload, separators=(",", ":"))
    msg_id = f"msg_{delivery_id.hex}"
    sent_at = utcnow()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signer.sign(msg_id, sent_at, body),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    if response.is_success:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}: {response.text}"[:MAX_ERROR_CHARS]


async def _record(db: Database, outcomes: Sequence[tuple[uuid.UUID, int, int | None, str | None]]) -> DeliveryRound:
    delivered = retrying = failed = 0
    now = utcnow()
    async with db.session() as s:
        for delivery_id, attempts, code, error in outcomes:
            row = await s.get(WebhookDelivery, delivery_id)
            if row is None:  # erased meanwhile
                continue
            row.attempts, row.last_status_code, row.last_error = attempts, code, error
            if error is None:
                row.status, row.delivered_at = "delivered", now
                delivered += 1
            elif code == GONE or attempts >= MAX_ATTEMPTS:
                row.status = "failed"
                failed += 1
                log.warning("webhooks.gave_up", delivery_id=str(delivery_id), url=row.url, attempts=attempts)
            else:
                row.next_attempt_at = now + RETRY_DELAYS[attempts - 1]
                retrying += 1
                log.info("webhooks.retrying", delivery_id=str(delivery_id), url=row.url, attempt=attempts, error=error)
            s.add(row)
    return DeliveryRound(delivered, retrying, failed)


async def recent_deliveries(db: Database, limit: int = 50) -> list[WebhookDelivery]:
    """The newest deliveries, for `codesight webhooks list` and the API."""
    async with db.session() as s:
        statement = select(WebhookDelivery).order_by(col(WebhookDelivery.created_at).desc()).limit(limit)
        return list((await s.exec(statement)).all())
