"""Live events for the dashboard: Postgres NOTIFY on one channel, sent when the writer's unit of work commits."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

NOTIFY_CHANNEL = "codesight_events"
# Postgres rejects NOTIFY payloads of 8000 bytes or more (https://www.postgresql.org/docs/current/sql-notify.html).
MAX_NOTIFY_PAYLOAD_BYTES = 7999


async def notify(s: AsyncSession, event: dict[str, Any]) -> None:
    """Queue `event` (JSON with at least `type`) on `codesight_events`; Postgres delivers it when `s` commits,
    and never if `s` rolls back."""
    await s.exec(select(func.pg_notify(NOTIFY_CHANNEL, json.dumps(event))))
