"""Uvicorn as one task among others (web, worker, Postgres) in a process that owns its signals."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn
from litestar import Litestar

from web.live import LiveHub


class InProcessServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its caller (`codesight up`, tests)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Uvicorn waits for open responses before the app's lifespan shutdown; live streams never
        # finish on their own, so end them first.
        app = self.config.app
        hub = app.state.get("live") if isinstance(app, Litestar) else None
        if isinstance(hub, LiveHub):
            hub.close()
        await super().shutdown(sockets)

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def wait_started(self, task: asyncio.Task[None]) -> None:
        """Return once the server accepts connections; re-raise if it failed to start."""
        while not self.started:
            if task.done():
                task.result()
                raise RuntimeError("the web server stopped before it started")
            await asyncio.sleep(0.02)


def make_server(app: Litestar, host: str, port: int) -> InProcessServer:
    return InProcessServer(uvicorn.Config(app, host=host, port=port, log_level="warning", ws="websockets-sansio"))
