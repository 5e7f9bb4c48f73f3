"""Nothing lost, nothing duplicated: the server stopped and restarted mid-session, the service
worker stopped by Chrome mid-session, the whole browser restarted with events still queued
in IndexedDB. (Optional audio: test_extension_audio.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright
from procrastinate import App

from lab.browser import chromium_profile
from lab.collect import CHROMIUM_ARGS
from lab.config import get_settings
from lab.db import Database
from lab.sites import load_site, page_url, serve_site
from tests.conftest import LiveServer, _free_port
from tests.e2e.extension_session import (
    SHOP,
    Extension,
    assert_exactly_once,
    of_type,
    stored_events,
    stored_screenshots,
)
from web.server import InProcessServer, make_server
from web.services import Services


@dataclass
class RestartableServer:
    """The real app on a fixed port that a test can stop and start again, like a deploy or a crash."""

    services: Services
    port: int
    participant_token: str
    server: InProcessServer | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        from web.app import create_app

        self.server = make_server(create_app(self.services), "127.0.0.1", self.port)
        self.task = asyncio.create_task(self.server.serve())
        await self.server.wait_started(self.task)

    async def stop(self) -> None:
        assert self.server is not None and self.task is not None
        self.server.should_exit = True
        await self.task
        self.server, self.task = None, None


@pytest.fixture
async def restartable_server(database: Database, pipeline_app: App, tmp_path: Path) -> AsyncIterator[RestartableServer]:
    from lab.accounts import add_participant
    from lab.storage.blobs import LocalBlobStore

    services = Services(
        settings=get_settings(), db=database, blobs=LocalBlobStore(tmp_path / "blobs"), queue=pipeline_app
    )
    async with database.session() as s:
        _, token = await add_participant(s, "robot")
    server = RestartableServer(services, _free_port(), token)
    await server.start()
    try:
        yield server
    finally:
        if server.task is not None:
            await server.stop()


async def shop_steps(page: Page, base: str, steps: list[str]) -> int:
    """Click through the shop (each step a data-lab-id, or a page to open); returns clicks made."""
    clicks = 0
    for step in steps:
        if step.endswith(".html") or "?" in step:
            await page.goto(page_url(base, "v1", step))
        else:
            await page.locator(f"[data-lab-id={step}]").click()
            clicks += 1
        await page.wait_for_timeout(700)
    return clicks


async def test_server_stopped_and_restarted_mid_session_every_event_arrives_once(
    restartable_server: RestartableServer, extension: Extension
) -> None:
    server = restartable_server
    async with serve_site(load_site(SHOP)) as base:
        session_id = await extension.start(server.url, server.participant_token)
        page = await extension.new_tab()
        clicks = await shop_steps(page, base, ["index.html", "accept-cookies", "product-link-4"])
        await extension.call("codesight.flush({timeoutMs: 20000})")
        await server.stop()
        clicks += await shop_steps(page, base, ["add-to-cart", "dialog-view-cart", "checkout-button"])
        offline = await extension.status()
        assert offline["offline"] and offline["queued"] > 0, offline
        await extension.badge_becomes(lambda shown, status: shown in ("OFF", str(status["queued"])))
        await asyncio.sleep(1.5)
        await server.start()
        clicks += await shop_steps(page, base, ["header-cart"])
        result = await extension.stop()
        await page.close()

    events = await stored_events(server.services.db, session_id)
    assert_exactly_once(events, result["lastAck"] + 1)
    assert len(of_type(events, "click")) == clicks == 6
    assert [p.url.split("/")[-1] for p in of_type(events, "page")] == [
        "index.html",
        "product.html?id=4",
        "cart.html",
        "checkout.html",
        "cart.html",
    ]
    shots = await stored_screenshots(server.services.db, session_id)
    assert {s.for_seq for s in shots if s.reason == "click"} >= {e.seq for e in of_type(events, "click")[:2]}
    assert len(shots) == len(of_type(events, "screenshot"))


async def test_service_worker_stopped_mid_session_loses_and_repeats_nothing(
    live_server: LiveServer, extension: Extension
) -> None:
    async with serve_site(load_site(SHOP)) as base:
        session_id = await extension.start(live_server.url, live_server.participant_token)
        page = await extension.new_tab()
        clicks = await shop_steps(page, base, ["index.html", "accept-cookies", "product-link-4", "add-to-cart"])
        before = await extension.status()
        cdp = await extension.context.new_cdp_session(page)
        await cdp.send("ServiceWorker.enable")
        await cdp.send("ServiceWorker.stopAllWorkers")
        await cdp.detach()
        await asyncio.sleep(0.5)
        clicks += await shop_steps(page, base, ["dialog-view-cart", "checkout-button"])
        after = await extension.status_becomes(lambda status: status["counts"].get("click") == clicks)
        assert after["sessionId"] == session_id and after["nextSeq"] > before["nextSeq"]
        assert after["counts"]["click"] == clicks, "counts survive the restart"
        result = await extension.stop()
        await page.close()

    events = await stored_events(live_server.services.db, session_id)
    assert_exactly_once(events, result["lastAck"] + 1)
    assert len(of_type(events, "click")) == clicks == 5
    late = [e for e in events if e.seq >= before["nextSeq"]]
    assert {e.type for e in late} >= {"click", "page", "screenshot", "snapshot"}, "the new worker records everything"


async def test_browser_restarted_with_events_queued_sends_them_once(restartable_server: RestartableServer) -> None:
    """Events queued in IndexedDB while the server is down survive closing Chromium entirely."""
    server = restartable_server
    settings = get_settings()
    ext = str(settings.extension_dir)
    async with chromium_profile() as profile, serve_site(load_site(SHOP)) as base, async_playwright() as pw:

        async def launch() -> Extension:
            context = await pw.chromium.launch_persistent_context(
                profile,
                executable_path=str(settings.chromium_path),
                headless=True,
                args=[*CHROMIUM_ARGS, f"--disable-extensions-except={ext}", f"--load-extension={ext}"],
                ignore_default_args=["--disable-extensions"],
                viewport={"width": 1280, "height": 800},
            )
            extension = Extension(context)
            await extension.worker()
            return extension

        first = await launch()
        session_id = await first.start(server.url, server.participant_token)
        page = await first.new_tab()
        clicks = await shop_steps(page, base, ["index.html", "accept-cookies"])
        await first.call("codesight.flush({timeoutMs: 20000})")
        await server.stop()
        clicks += await shop_steps(page, base, ["product-link-4", "add-to-cart"])
        queued = (await first.status())["queued"]
        assert queued > 0
        await first.context.close()

        await server.start()
        second = await launch()
        status = await second.status()
        assert status["sessionId"] == session_id and status["queued"] >= 0
        result = await second.stop()
        await second.context.close()

    events = await stored_events(server.services.db, session_id)
    assert_exactly_once(events, result["lastAck"] + 1)
    assert len(of_type(events, "click")) == clicks == 3
