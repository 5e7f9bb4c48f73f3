"""The dashboard in real Chromium follows live status over SSE (htmx's SSE extension), well before its 30 s poll."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from lab.pipeline import record_step
from lab.replay.engine import launch_browser
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# Far below the fallback poll (30 s): only a live event can update the page this fast.
LIVE_TIMEOUT_MS = 5_000

# Counts `ready`, the first event of every stream: from then on the server holds the page's subscription.
COUNT_READY = """
window.__liveReady = 0;
const NativeEventSource = window.EventSource;
window.EventSource = class extends NativeEventSource {
  constructor(...args) { super(...args); this.addEventListener("ready", () => { window.__liveReady += 1; }); }
};
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dashboard_browser() -> AsyncIterator[Browser]:
    async with launch_browser() as launched:
        yield launched


async def signed_in_page(browser: Browser, server: LiveServer) -> Page:
    context = await browser.new_context(base_url=server.url)
    await context.add_init_script(COUNT_READY)
    page = await context.new_page()
    await page.goto("/login")
    await page.fill("#token", server.user_token)
    await page.click("button[type=submit]")
    return page


async def open_session(server: LiveServer, mode: str = "automated") -> uuid.UUID:
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{server.url}/api/v1/sessions",
            json={"v": 1, "mode": mode, "site": "shop", "site_version": "v1"},
            headers={"Authorization": f"Bearer {server.participant_token}"},
        )
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["id"])


async def test_session_page_shows_a_step_change_live(dashboard_browser: Browser, live_server: LiveServer) -> None:
    sid = await open_session(live_server)
    page = await signed_in_page(dashboard_browser, live_server)
    await page.goto(f"/sessions/{sid}")
    await page.wait_for_function("window.__liveReady > 0")
    replay = page.locator(".status-card .steps li").first
    await expect(replay).to_contain_text("pending")

    await record_step(live_server.services.db, sid, "replay", "running")

    await expect(replay).to_contain_text("running", timeout=LIVE_TIMEOUT_MS)
    await page.context.close()


async def test_session_list_shows_a_new_session_live(dashboard_browser: Browser, live_server: LiveServer) -> None:
    page = await signed_in_page(dashboard_browser, live_server)
    await expect(page.locator("#session-rows")).to_contain_text("No sessions yet")
    await page.wait_for_function("window.__liveReady > 0")

    sid = await open_session(live_server)

    await expect(page.locator("#session-rows")).to_contain_text(str(sid)[:8], timeout=LIVE_TIMEOUT_MS)
    await page.context.close()
