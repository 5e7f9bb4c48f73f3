"""Serving the fake: in the background of a test or demo (`serve_fake_openai`) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import structlog
import uvicorn

from lab.training.fake_openai.app import create_fake_openai_app
from lab.training.fake_openai.state import DEFAULT_PHASE_S, FakeOpenAI

log = structlog.get_logger(__name__)


class _BackgroundServer(uvicorn.Server):
    """Uvicorn without its own signal handlers: the process that runs it owns them."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass(frozen=True)
class RunningFake:
    """A fake being served: where to point each client, and its state to steer and inspect."""

    url: str
    fake: FakeOpenAI

    @property
    def openai_base_url(self) -> str:
        """`base_url` for `OpenAI(...)` and compatible clients."""
        return f"{self.url}/v1"

    @property
    def azure_endpoint(self) -> str:
        """`azure_endpoint` for `AzureOpenAI(...)`."""
        return self.url


@asynccontextmanager
async def serve_fake_openai(
    fake: FakeOpenAI | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningFake]:
    """Serve a fake over real HTTP while the block runs (port 0: a free one, bound before serving)."""
    fake = fake or FakeOpenAI()
    server = _BackgroundServer(uvicorn.Config(create_fake_openai_app(fake), log_level="warning", lifespan="off"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the fake OpenAI server stopped before it started")
                await asyncio.sleep(0.01)
            yield RunningFake(f"http://{host}:{bound_port}", fake)
        finally:
            server.should_exit = True
            await task


def serve_forever(host: str = "127.0.0.1", port: int = 8800, phase_s: float = DEFAULT_PHASE_S) -> None:
    """Serve a fresh fake in the foreground until interrupted (the CLI wraps this)."""
    log.info("fake_openai.serving", openai_base_url=f"http://{host}:{port}/v1", azure_endpoint=f"http://{host}:{port}")
    uvicorn.run(create_fake_openai_app(FakeOpenAI(phase_s=phase_s)), host=host, port=port, log_level="info")
