"""The web process's one LISTEN connection: Postgres notifications in, hub events out, reconnecting forever."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, NoReturn

import psycopg
import structlog
from psycopg import sql

from lab.db.notify import NOTIFY_CHANNEL
from web.live.events import RESYNC, live_event
from web.live.hub import LiveHub

log = structlog.get_logger(__name__)

# A connection that died without a word (no FIN, a NAT dropped it) is found by a query this often.
HEALTH_CHECK_S = 15.0
# Reconnect backoff: first wait, then doubled up to the cap.
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 30.0
# How long app startup waits for LISTEN before serving anyway (the listener keeps trying).
STARTUP_WAIT_S = 5.0
# How the connection shows in pg_stat_activity.
APPLICATION_NAME = "codesight-live"


class PostgresListener:
    """LISTEN on `codesight_events` and publish every notification to `hub`.

    After every reconnection the hub broadcasts a resync event: notifications sent while the
    connection was down are lost, so every page re-fetches."""

    def __init__(self, url: str, hub: LiveHub) -> None:
        self.url = url
        self.hub = hub
        self.listening = asyncio.Event()
        self.connections = 0

    async def run(self) -> None:
        delay_s = RECONNECT_FIRST_S
        while True:
            try:
                await self._listen_once()
            except (psycopg.Error, OSError) as error:
                if self.listening.is_set():  # it was up: a fresh outage starts the backoff over
                    delay_s = RECONNECT_FIRST_S
                self.listening.clear()
                log.warning("live.listen.lost", error=f"{type(error).__name__}: {error}", retry_in_s=delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RECONNECT_MAX_S)

    async def _listen_once(self) -> NoReturn:
        """One connection's life: LISTEN, publish until it fails (the only way out)."""
        async with await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, application_name=APPLICATION_NAME
        ) as conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
            self.connections += 1
            self.listening.set()
            log.info("live.listening", channel=NOTIFY_CHANNEL, connection=self.connections)
            if self.connections > 1:
                self.hub.broadcast(RESYNC)
            while True:
                async for notification in conn.notifies(timeout=HEALTH_CHECK_S):
                    event = live_event(notification.payload)
                    if event is None:
                        log.warning("live.bad_payload", payload=notification.payload[:200])
                        continue
                    self.hub.publish(event)
                await conn.execute("SELECT 1")


@contextlib.asynccontextmanager
async def listening(url: str, hub: LiveHub) -> AsyncIterator[PostgresListener]:
    """Run a listener for the block; its end closes the hub's streams and the connection."""
    listener = PostgresListener(url, hub)
    task = asyncio.create_task(listener.run(), name="live-listener")
    task.add_done_callback(_report_crash)
    try:
        await asyncio.wait_for(listener.listening.wait(), STARTUP_WAIT_S)
    except TimeoutError:
        log.warning("live.listen.late", waited_s=STARTUP_WAIT_S)
    try:
        yield listener
    finally:
        hub.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("live.listen.crashed", error=repr(task.exception()), exc_info=task.exception())


def live_lifespan(url: str, hub: LiveHub) -> Callable[[Any], AbstractAsyncContextManager[PostgresListener]]:
    """For `Litestar(lifespan=[...])`: the listener runs from app startup to app shutdown."""
    return lambda _app: listening(url, hub)
