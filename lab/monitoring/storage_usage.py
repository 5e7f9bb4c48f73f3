"""Storage figures for `/metrics`: bytes stored by kind, sessions by status and an estimated monthly bill,
read from Postgres at scrape time.

Like the queue depth these are the database's numbers, not a process's: every web replica reports the
same values (aggregate with max, not sum). The reads are async and bounded by a timeout (on the server
too, by `statement_timeout`), so a scrape never hangs on a busy database. The monthly cost sits next
to its alert threshold from settings, so the alert rule compares two series and stays generic.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy import func, select, text
from sqlmodel import col

from lab.config import Settings
from lab.db.engine import Database
from lab.db.models import SESSION_STATUSES, Screenshot, Session
from lab.monitoring.metrics import (
    STORAGE_BYTES,
    STORAGE_ERRORS,
    STORAGE_MONTHLY_COST,
    STORAGE_MONTHLY_COST_THRESHOLD,
    STORAGE_SESSIONS,
)

log = structlog.get_logger(__name__)

# A scrape waits at most this long for the figures; Prometheus' own default scrape timeout is 10 s.
STORAGE_TIMEOUT_S = 2.0
# Decimal GB, the larger unit of the two a bill may mean: the estimate errs high, never low.
BYTES_PER_GB = 10**9
# What the blob store holds, and so what it bills: each session's archive, and its screenshots while
# they are kept loose (until CODESIGHT_WORKING_COPY_DAYS after the archive, lab.storage.retention; then
# they are in the archive's bytes only). The database is priced differently, not here.
BLOB_STORE_KINDS = ("archives", "screenshots")

_ARCHIVE_BYTES = select(func.coalesce(func.sum(col(Session.archive_bytes)), 0)).scalar_subquery()
_SCREENSHOT_BYTES = (
    select(func.coalesce(func.sum(col(Screenshot.size_bytes)), 0))
    .select_from(Screenshot)
    .join(Session, col(Session.id) == col(Screenshot.session_id))
    .where(col(Session.working_copies_deleted_at).is_(None))
    .scalar_subquery()
)
_BYTES = select(_ARCHIVE_BYTES, _SCREENSHOT_BYTES, func.pg_database_size(func.current_database()))
_SESSIONS_BY_STATUS = select(col(Session.status), func.count()).group_by(col(Session.status))


@dataclass(frozen=True)
class StorageFigures:
    """Bytes stored per kind (archives, screenshots, database) and sessions per status."""

    bytes_by_kind: Mapping[str, int]
    sessions_by_status: Mapping[str, int]


def monthly_cost_usd(figures: StorageFigures, price_per_gb_month: float) -> float:
    """The blob store's estimated monthly bill: its bytes at one flat price per GB-month."""
    stored = sum(figures.bytes_by_kind.get(kind, 0) for kind in BLOB_STORE_KINDS)
    return stored / BYTES_PER_GB * price_per_gb_month


async def storage_figures(db: Database, timeout_s: float = STORAGE_TIMEOUT_S) -> StorageFigures:
    """Read the figures in one transaction; Postgres itself gives up on a statement after `timeout_s`."""
    async with db.session() as s:
        conn = await s.connection()
        await conn.execute(
            text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(max(1, int(timeout_s * 1000)))}
        )
        archives, screenshots, database = (await conn.execute(_BYTES)).one()
        by_status = (await conn.execute(_SESSIONS_BY_STATUS)).all()
    return StorageFigures(
        bytes_by_kind={"archives": int(archives), "screenshots": int(screenshots), "database": int(database)},
        sessions_by_status={str(status): int(count) for status, count in by_status},
    )


async def refresh_storage(db: Database, settings: Settings, timeout_s: float = STORAGE_TIMEOUT_S) -> None:
    """Set the storage gauges; the cost threshold comes from settings and is set whatever happens.

    When the database does not answer in time the bytes and sessions gauges are emptied and the cost
    is NaN (no stale numbers; a NaN never exceeds the threshold), the failure is logged and counted,
    and the rest of /metrics is still served.
    """
    STORAGE_MONTHLY_COST_THRESHOLD.set(settings.storage_cost_alert_usd)
    try:
        figures = await asyncio.wait_for(storage_figures(db, timeout_s), timeout_s)
    except Exception as exc:  # a timeout or any database failure: the rest of /metrics is still worth serving
        STORAGE_BYTES.clear()
        STORAGE_SESSIONS.clear()
        STORAGE_MONTHLY_COST.set(math.nan)
        STORAGE_ERRORS.inc()
        log.warning("metrics.storage_failed", error=f"{type(exc).__name__}: {exc}", timeout_s=timeout_s)
        return
    STORAGE_BYTES.clear()
    for kind, size_bytes in figures.bytes_by_kind.items():
        STORAGE_BYTES.labels(kind=kind).set(size_bytes)
    STORAGE_SESSIONS.clear()
    for status in {*SESSION_STATUSES, *figures.sessions_by_status}:
        STORAGE_SESSIONS.labels(status=status).set(figures.sessions_by_status.get(status, 0))
    STORAGE_MONTHLY_COST.set(monthly_cost_usd(figures, settings.storage_price_per_gb_month))
