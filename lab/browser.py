"""One Chromium per process, shared by every replay job it runs.

Launching Chromium costs about as much as replaying a small session, so a worker keeps one:
launched on first use, launched again when it disconnected (crashed, killed, closed), closed
when the process shuts down. Jobs never share pages or state: the engine opens a fresh context
per page state in it. A job sets the browser it may use with `using_browser` (the worker's
task does); `replay` without an explicit browser takes that one, else launches its own.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from lab.config import Settings, get_settings

if TYPE_CHECKING:  # Playwright itself is imported on first launch: workers that never replay skip it.
    from playwright.async_api import Browser, Playwright

log = structlog.get_logger(__name__)

# Chromium flags for a quiet headless replay browser (no sandbox inside containers).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


class SharedBrowser:
    """A Chromium launched lazily and relaunched when it is gone; `close` ends it and its driver."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.launches = 0  # how many times Chromium was started, for logs and tests

    async def get(self) -> Browser:
        """The live browser, launching (or relaunching) it when there is none."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            # Playwright objects belong to the loop that made them; a new loop starts afresh.
            log.warning("replay.browser.new_loop", launches=self.launches)
            self._playwright = self._browser = self._loop = None
            self._lock = asyncio.Lock()
        async with self._lock:
            browser = self._browser
            if browser is not None and browser.is_connected():
                return browser
            if browser is not None:
                log.warning("replay.browser.disconnected", launches=self.launches)
            return await self._launch(loop)

    async def _launch(self, loop: asyncio.AbstractEventLoop) -> Browser:
        from playwright.async_api import async_playwright

        settings = self._settings or get_settings()
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=str(settings.chromium_path), args=CHROMIUM_ARGS
            )
        except Exception:
            # Playwright's driver may be what died: the next attempt (the job's retry) starts a new one.
            driver, self._playwright, self._browser = self._playwright, None, None
            try:
                await driver.stop()
            except Exception as stop_error:  # the launch error is the one to raise; this one is logged
                log.warning("replay.browser.driver_stop_failed", error=str(stop_error))
            raise
        self._loop = loop
        self.launches += 1
        log.info("replay.browser.launched", launches=self.launches, version=self._browser.version)
        return self._browser

    async def close(self) -> None:
        """Close the browser and Playwright's driver, if they were started; `get` would launch anew."""
        async with self._lock:
            browser, playwright = self._browser, self._playwright
            self._browser = self._playwright = self._loop = None
            if browser is not None and browser.is_connected():
                await browser.close()
            if playwright is not None:
                await playwright.stop()
            if browser is not None:
                log.info("replay.browser.closed", launches=self.launches)


_current: ContextVar[SharedBrowser | None] = ContextVar("replay_shared_browser", default=None)


@contextmanager
def using_browser(shared: SharedBrowser) -> Iterator[SharedBrowser]:
    """Replays in this block (this task and the tasks it starts) use `shared` unless given a browser."""
    token = _current.set(shared)
    try:
        yield shared
    finally:
        _current.reset(token)


def current_browser() -> SharedBrowser | None:
    """The shared browser `using_browser` set for this block, if any."""
    return _current.get()


# Chromium's helper processes (crash handler, GPU, network) can outlive the main one by a moment and
# still write into the profile as it is removed; removal is retried for this long, then left to the OS.
PROFILE_REMOVAL_TRIES = 20
PROFILE_REMOVAL_PAUSE_S = 0.1


@asynccontextmanager
async def chromium_profile() -> AsyncIterator[Path]:
    """A throwaway Chromium profile folder, removed afterwards even while Chromium's last helper
    processes still write into it (a plain TemporaryDirectory then fails with "Directory not empty")."""
    profile = Path(tempfile.mkdtemp(prefix="codesight-profile-"))
    try:
        yield profile
    finally:
        for _ in range(PROFILE_REMOVAL_TRIES):
            if await asyncio.to_thread(_removed, profile):
                break
            await asyncio.sleep(PROFILE_REMOVAL_PAUSE_S)
        else:
            log.warning("browser.profile_left_behind", path=str(profile))


def _removed(folder: Path) -> bool:
    """Remove what can be removed of `folder`; whether it is gone."""
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()
