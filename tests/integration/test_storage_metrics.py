"""Storage figures on the web's `/metrics`: bytes by kind, sessions by status, the estimated monthly cost
next to its alert threshold from settings, and a scrape that still answers when Postgres does not.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from lab.config import get_settings
from lab.db import Database
from lab.db.models import Event, Screenshot, Session
from lab.monitoring.storage_usage import refresh_storage
from tests.conftest import LiveServer
from tests.integration.test_metrics import scrape, value

PRICE_PER_GB_MONTH = 4.0
COST_ALERT_USD = 12.5
ARCHIVE_BYTES = (2_000_000_000, 500_000_000)
SCREENSHOT_BYTES = 250_000_000


@pytest.fixture(autouse=True)
def storage_prices(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings with a known price and threshold; autouse, so they are in place before live_server reads them."""
    monkeypatch.setenv("CODESIGHT_STORAGE_PRICE_PER_GB_MONTH", str(PRICE_PER_GB_MONTH))
    monkeypatch.setenv("CODESIGHT_STORAGE_COST_ALERT_USD", str(COST_ALERT_USD))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def store_sessions(db: Database) -> None:
    """Two archived sessions, each with a screenshot (the second's loose copies expired: only in its
    archive now), one failed, one still recording."""
    archived = [Session(site="shop", status="done", archive_key=f"a{n}", archive_bytes=n) for n in ARCHIVE_BYTES]
    archived[1].working_copies_deleted_at = datetime.now(UTC)
    others = [Session(site="shop", status="failed"), Session(site="shop", status="recording")]
    async with db.session() as s:
        s.add_all([*archived, *others])
        await s.flush()
        for session in archived:
            event = Event(session_id=session.id, seq=1, type="screenshot", t=datetime.now(UTC), url="http://shop/")
            s.add(event)
            await s.flush()
            assert event.id is not None
            s.add(
                Screenshot(
                    session_id=session.id,
                    event_id=event.id,
                    reason="navigation",
                    blob_key=f"sessions/{session.id}/screenshots/1.webp",
                    size_bytes=SCREENSHOT_BYTES,
                    width=1,
                    height=1,
                )
            )


async def test_metrics_show_storage_bytes_sessions_and_the_cost_next_to_its_threshold(
    live_server: LiveServer,
) -> None:
    empty = await scrape(live_server)
    assert empty[("codesight_storage_bytes", frozenset({("kind", "archives")}))] == 0
    assert value(empty, "codesight_storage_monthly_cost_usd") == 0

    await store_sessions(live_server.services.db)
    scraped = await scrape(live_server)

    assert value(scraped, "codesight_storage_bytes", kind="archives") == sum(ARCHIVE_BYTES)
    # Only the first session's screenshot is still a loose blob: the second's bytes are in its archive.
    assert value(scraped, "codesight_storage_bytes", kind="screenshots") == SCREENSHOT_BYTES
    assert value(scraped, "codesight_storage_bytes", kind="database") > 0
    sessions = {
        dict(labels)["status"]: count
        for (name, labels), count in scraped.items()
        if name == "codesight_storage_sessions"
    }
    assert sessions == {"done": 2, "failed": 1, "recording": 1, "processing": 0}
    # 2.75 GB of archives and screenshots at 4 USD per GB-month, against the 12.5 USD threshold from settings.
    blob_gb = (sum(ARCHIVE_BYTES) + SCREENSHOT_BYTES) / 1e9
    assert value(scraped, "codesight_storage_monthly_cost_usd") == pytest.approx(blob_gb * PRICE_PER_GB_MONTH)
    assert value(scraped, "codesight_storage_monthly_cost_threshold_usd") == COST_ALERT_USD


async def test_a_scrape_while_postgres_holds_the_tables_serves_the_rest_and_counts_the_failures(
    live_server: LiveServer, db_url: str
) -> None:
    """Another transaction's lock makes the storage and queue depth reads wait past their timeout."""
    await store_sessions(live_server.services.db)
    before = await scrape(live_server)
    assert value(before, "codesight_storage_bytes", kind="archives") == sum(ARCHIVE_BYTES)
    assert ("codesight_queue_depth", frozenset({("queue", "pipeline")})) in before

    with psycopg.connect(db_url) as conn:
        conn.execute("LOCK TABLE sessions, procrastinate_jobs IN ACCESS EXCLUSIVE MODE")
        during = await scrape(live_server)
        conn.rollback()
    after = await scrape(live_server)

    for counter in ("codesight_storage_errors_total", "codesight_queue_depth_errors_total"):
        assert value(during, counter) - value(before, counter) == 1, counter
        assert value(after, counter) == value(during, counter), counter
    assert not [name for name, _ in during if name in ("codesight_storage_bytes", "codesight_storage_sessions")]
    assert not [name for name, _ in during if name == "codesight_queue_depth"]
    assert math.isnan(value(during, "codesight_storage_monthly_cost_usd")), "no stale cost"
    assert value(during, "codesight_storage_monthly_cost_threshold_usd") == COST_ALERT_USD
    assert ("codesight_ingest_batches_total", frozenset({("transport", "rest"), ("outcome", "stored")})) in during

    # The lock gone, the next scrape reads everything again on the same connection pool.
    assert value(after, "codesight_storage_bytes", kind="archives") == sum(ARCHIVE_BYTES)
    assert value(after, "codesight_storage_sessions", status="done") == 2
    assert value(after, "codesight_queue_depth", queue="pipeline") == 0
    assert not math.isnan(value(after, "codesight_storage_monthly_cost_usd"))


async def test_an_unreachable_database_empties_the_storage_gauges_and_counts_the_failure(database: Database) -> None:
    from prometheus_client import REGISTRY

    settings = get_settings()
    await refresh_storage(database, settings)
    assert REGISTRY.get_sample_value("codesight_storage_bytes", {"kind": "archives"}) == 0
    errors = REGISTRY.get_sample_value("codesight_storage_errors_total") or 0.0

    nowhere = Database(f"postgresql://codesight@127.0.0.1:1/{uuid.uuid4().hex}")
    try:
        await refresh_storage(nowhere, settings)
    finally:
        await nowhere.dispose()

    assert REGISTRY.get_sample_value("codesight_storage_errors_total") == errors + 1
    assert REGISTRY.get_sample_value("codesight_storage_bytes", {"kind": "archives"}) is None
    assert REGISTRY.get_sample_value("codesight_storage_sessions", {"status": "done"}) is None
    assert math.isnan(REGISTRY.get_sample_value("codesight_storage_monthly_cost_usd") or 0.0)
    assert REGISTRY.get_sample_value("codesight_storage_monthly_cost_threshold_usd") == COST_ALERT_USD
