"""Helpers for the extension's end-to-end tests: one Chromium with the real extension per
module, sessions started and stopped through its service-worker API, stored rows read back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page, Worker, async_playwright
from sqlmodel import col, select

from lab.browser import chromium_profile
from lab.collect import CHROMIUM_ARGS, extension_browser
from lab.config import PROJECT_ROOT, get_settings
from lab.db import Database
from lab.db.models import Event, Screenshot

SHOP = PROJECT_ROOT / "fixtures" / "sites" / "shop"
STOP_TIMEOUT_MS = 60_000


@dataclass
class Extension:
    """The browser and the extension's service worker, which Chrome may replace at any time."""

    context: BrowserContext

    async def worker(self) -> Worker:
        """The live service worker (a new one after Chrome stopped the old)."""
        for _ in range(100):
            for worker in reversed(self.context.service_workers):
                try:
                    if await worker.evaluate("() => globalThis.codesight !== undefined"):
                        return worker
                except Exception:  # a stopped worker's handle: try the next, or wait for the new one
                    continue
            await asyncio.sleep(0.1)
        raise TimeoutError("no live CodeSight service worker")

    async def call(self, expression: str, arg: Any = None) -> Any:
        return await (await self.worker()).evaluate(expression, arg)

    async def start(self, server: str, token: str, **options: Any) -> str:
        config = {"server": server, "token": token, "site": "shop", "siteVersion": "v1", "mode": "automated", **options}
        opened = await self.call("(c) => codesight.startSession(c)", config)
        return str(opened["id"])

    async def stop(self, timeout_ms: int = STOP_TIMEOUT_MS) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("(t) => codesight.stopSession({timeoutMs: t})", timeout_ms)
        return result

    async def status(self) -> dict[str, Any]:
        status: dict[str, Any] = await self.call("codesight.status()")
        return status

    async def badge(self) -> str:
        return str(await self.call("chrome.action.getBadgeText({})"))

    async def badge_becomes(self, expected: str | Callable[[str, dict[str, Any]], bool], timeout_s: float = 10) -> str:
        """Wait until the toolbar badge shows `expected` (text, or a test of badge and status read
        together: the badge is set a moment after the status changes). Returns the badge."""
        accept = expected if callable(expected) else (lambda shown, _status: shown == expected)
        deadline = time.monotonic() + timeout_s
        shown, status = "", {}
        while time.monotonic() < deadline:
            status = await self.status()
            shown = await self.badge()
            if accept(shown, status):
                return shown
            await asyncio.sleep(0.1)
        raise AssertionError(f"the badge shows {shown!r} (status {status}), expected {expected!r}")

    async def status_becomes(self, accept: Callable[[dict[str, Any]], bool], timeout_s: float = 10) -> dict[str, Any]:
        """Wait until the service worker's status passes `accept` (events reach it a moment after the
        page acts); returns that status."""
        deadline = time.monotonic() + timeout_s
        status = await self.status()
        while not accept(status) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            status = await self.status()
        return status

    async def discard_open_session(self) -> None:
        if (await self.status())["sessionId"]:
            await self.call("codesight.discardSession()")

    async def new_tab(self) -> Page:
        page = await self.context.new_page()
        await page.bring_to_front()
        return page


@asynccontextmanager
async def chromium_with_extension(
    extra_args: Sequence[str] = (), *, real_visibility: bool = False
) -> AsyncIterator[Extension]:
    """Chromium with the CodeSight extension (lab.collect.extension_browser), or with extra flags.

    `real_visibility`: tabs behind the front one are hidden, as in a person's browser (see
    chromium_without_focus_emulation)."""
    settings = get_settings()
    if real_visibility:
        async with chromium_without_focus_emulation(extra_args) as extension:
            yield extension
        return
    if not extra_args:
        async with extension_browser(settings.chromium_path, settings.extension_dir) as (context, _):
            yield Extension(context)
        return
    ext = str(settings.extension_dir)
    async with chromium_profile() as profile, async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(settings.chromium_path),
            headless=True,
            args=[*CHROMIUM_ARGS, *extra_args, f"--disable-extensions-except={ext}", f"--load-extension={ext}"],
            ignore_default_args=["--disable-extensions"],
            viewport={"width": 1280, "height": 800},
        )
        try:
            extension = Extension(context)
            await extension.worker()
            yield extension
        finally:
            await context.close()


@asynccontextmanager
async def chromium_without_focus_emulation(extra_args: Sequence[str] = ()) -> AsyncIterator[Extension]:
    """Chromium with the extension, driven over CDP without Playwright's focus emulation.

    Playwright turns on `Emulation.setFocusEmulationEnabled` for every page it launches, and
    Chromium implements that by counting the page as being captured, which keeps it visible:
    a tab behind another (bring_to_front, chrome.tabs.update, a minimized window) stays
    `visible` and never fires visibilitychange. Attached with `no_defaults` to a Chromium we
    start ourselves, pages of the default context get no such override, so switching tabs
    hides the one left behind, as in a person's browser.
    """
    settings = get_settings()
    ext = str(settings.extension_dir)
    async with chromium_profile() as profile:
        chromium = await asyncio.create_subprocess_exec(
            str(settings.chromium_path),
            "--headless",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1280,800",
            *CHROMIUM_ARGS,
            *extra_args,
            f"--disable-extensions-except={ext}",
            f"--load-extension={ext}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            port = await _devtools_port(Path(profile), chromium)
            async with async_playwright() as pw:
                browser = await pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}", no_defaults=True)
                try:
                    extension = Extension(browser.contexts[0])
                    await extension.worker()
                    yield extension
                finally:
                    await browser.close()
        finally:
            if chromium.returncode is None:
                chromium.terminate()
            await chromium.wait()


async def _devtools_port(profile: Path, chromium: asyncio.subprocess.Process) -> int:
    """The port Chromium chose for --remote-debugging-port=0 (it writes it into the profile)."""
    active_port = profile / "DevToolsActivePort"
    for _ in range(300):
        if chromium.returncode is not None:
            raise RuntimeError(f"chromium exited with {chromium.returncode} before it opened its DevTools port")
        lines = active_port.read_text().split() if active_port.exists() else []
        if lines:
            return int(lines[0])
        await asyncio.sleep(0.1)
    raise TimeoutError(f"chromium wrote no {active_port} within 30 s")


async def stored_events(db: Database, session_id: str) -> list[Event]:
    async with db.session() as s:
        rows = await s.exec(select(Event).where(col(Event.session_id) == session_id).order_by(col(Event.seq)))
        return list(rows.all())


async def stored_screenshots(db: Database, session_id: str) -> list[Screenshot]:
    async with db.session() as s:
        rows = await s.exec(select(Screenshot).where(col(Screenshot.session_id) == session_id))
        return list(rows.all())


def of_type(events: Sequence[Event], kind: str) -> list[Event]:
    return [e for e in events if e.type == kind]


def assert_exactly_once(events: Sequence[Event], next_seq: int) -> None:
    """Every seq the extension handed out is stored once: 0..next_seq-1, no gap, no duplicate, no replay."""
    seqs = [e.seq for e in events]
    assert seqs == list(range(next_seq)), f"stored seqs {seqs} are not 0..{next_seq - 1}"
    identities = [(e.type, e.t, json.dumps(e.payload, sort_keys=True)) for e in events]
    assert len(set(identities)) == len(identities), "the same event was recorded twice under different seqs"


def write_site(root: Path, name: str, pages: dict[str, str], journey: list[dict[str, Any]]) -> Path:
    """A site folder in the DESIGN.md fixture format, for pages the shop does not have."""
    folder = root / name
    (folder / "v1").mkdir(parents=True)
    (folder / "site.json").write_text(json.dumps({"name": name, "versions": ["v1"]}))
    (folder / "journey.json").write_text(json.dumps(journey))
    for page, html in pages.items():
        (folder / "v1" / page).write_text(html)
    return folder
