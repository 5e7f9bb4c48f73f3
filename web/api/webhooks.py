"""Webhook deliveries for admins: what was sent where and what the endpoints answered, and a test event."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.exceptions import ClientException
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from lab.db.models import WebhookDelivery
from lab.monitoring.webhooks import enqueue, recent_deliveries
from web.auth import admin_guard
from web.services import ServicesDep
from workers.maintenance import kick_webhooks

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="newest deliveries to list")]


def delivery_json(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": f"msg_{row.id.hex}",
        "event_type": row.event_type,
        "url": row.url,
        "status": row.status,
        "attempts": row.attempts,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat(),
        "next_attempt_at": row.next_attempt_at.isoformat() if row.status == "pending" else None,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "payload": row.payload,
    }


class WebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["webhooks"]
    guards = [admin_guard]

    @get("/deliveries")
    async def deliveries(self, services: ServicesDep, limit: Limit = 50) -> list[dict[str, Any]]:
        """The newest deliveries, newest first."""
        return [delivery_json(row) for row in await recent_deliveries(services.db, limit=limit)]

    @post("/test", status_code=HTTP_202_ACCEPTED)
    async def test(self, services: ServicesDep) -> dict[str, Any]:
        """Queue a `webhook.test` event for every endpoint; the workers send it at once."""
        if not services.settings.webhook_urls:
            raise ClientException("CODESIGHT_WEBHOOK_URLS: no endpoints are set")
        async with services.db.session() as s:
            queued = await enqueue(s, "webhook.test", uuid.uuid4().hex, {"message": "CodeSight webhook test"})
        await kick_webhooks(services.queue)
        return {"queued": queued}
