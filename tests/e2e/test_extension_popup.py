"""The toolbar popup, driven like a participant would (opened as a page of the extension): consent,
start, pause, resume, stop. The badge follows (read back from the service worker), nothing is
recorded while paused, stop ends the session on the server, and the popup says what was captured."""

from __future__ import annotations

import re
import time

from playwright.async_api import Page, expect

from lab.db.models import Session
from lab.sites import load_site, page_url, serve_site
from tests.conftest import LiveServer
from tests.e2e.extension_session import SHOP, Extension, of_type, stored_events

# extension/badge.js
BADGE_RECORDING = "REC"
BADGE_PAUSED = "❚❚"
ACT_PAUSE_MS = 1200


async def open_popup(extension: Extension) -> Page:
    worker = await extension.worker()
    popup = await extension.new_tab()
    await popup.goto(worker.url.replace("background.js", "popup.html"))
    return popup


async def act(page: Page, lab_id: str) -> None:
    """Bring the shop to the front (screenshots are of the visible tab) and click one of its targets."""
    await page.bring_to_front()
    await page.locator(f"[data-lab-id={lab_id}]").click()
    await page.wait_for_timeout(ACT_PAUSE_MS)


async def test_popup_starts_pauses_resumes_and_stops_a_session_and_the_badge_follows(
    live_server: LiveServer, extension: Extension
) -> None:
    await extension.call("chrome.storage.local.set({allowlist: ['127.0.0.1']})")
    async with serve_site(load_site(SHOP)) as base:
        shop = await extension.new_tab()
        await shop.goto(page_url(base, "v1", "index.html"))
        popup = await open_popup(extension)
        await expect(popup.locator("#consent")).to_be_visible()
        await popup.locator("#agree").click()
        await expect(popup.locator("#allowlist")).to_contain_text("127.0.0.1")
        await popup.locator("#server").fill(live_server.url)
        await popup.locator("#token").fill(live_server.participant_token)
        await popup.locator("#site").fill("shop")
        await popup.locator("#site-version").fill("v1")
        await popup.locator("#start").click()
        await expect(popup.locator("#state")).to_have_text("recording")
        await extension.badge_becomes(BADGE_RECORDING)
        session_id = (await extension.status())["sessionId"]
        await expect(popup.locator("#session")).to_have_text(session_id)

        await act(shop, "accept-cookies")

        await popup.bring_to_front()
        await popup.locator("#pause").click()
        await expect(popup.locator("#state")).to_have_text("paused")
        await expect(popup.locator("#pause")).to_have_text("Resume")
        await extension.badge_becomes(BADGE_PAUSED)
        paused_at_ms = time.time() * 1000
        await act(shop, "quick-add-2")
        await act(shop, "product-link-4")
        resumed_at_ms = time.time() * 1000

        await popup.bring_to_front()
        await popup.locator("#pause").click()
        await expect(popup.locator("#state")).to_have_text("recording")
        await extension.badge_becomes(BADGE_RECORDING)
        await act(shop, "add-to-cart")

        await popup.bring_to_front()
        await extension.call("codesight.flush()")  # every screenshot taken and acked
        counts = (await extension.status())["counts"]
        total = sum(counts.values())
        await expect(popup.locator("#queued")).to_have_text("0")
        await expect(popup.locator("#captured")).to_have_text(
            re.compile(rf"^{total} events: 2 clicks, .*{counts['screenshot']} screenshots")
        )
        await popup.locator("#stop").click()
        await expect(popup.locator("#state")).to_have_text("idle", timeout=30_000)
        await extension.badge_becomes("")
        await expect(popup.locator("#captured")).to_have_text("\u2013")  # nothing while idle
        await expect(popup.locator("#last-session")).to_contain_text("events: 2 clicks")
        last_session = await popup.locator("#last-session").text_content()
        await shop.close()
        await popup.close()

    events = await stored_events(live_server.services.db, session_id)
    assert [e.seq for e in events] == list(range(len(events)))
    during_pause = [(e.seq, e.type) for e in events if paused_at_ms <= e.t.timestamp() * 1000 <= resumed_at_ms]
    assert during_pause == [], "nothing is recorded while paused"
    clicks = of_type(events, "click")
    assert [(c.payload["target"]["text"], c.url.rsplit("/", 1)[-1]) for c in clicks] == [
        ("Accept all", "index.html"),
        ("Add to cart", "product.html?id=4"),
    ]
    # The page open when recording starts or resumes is described then: the product page (reached
    # while paused) only once recording resumed.
    pages = of_type(events, "page")
    assert [p.url.rsplit("/", 1)[-1] for p in pages] == ["index.html", "product.html?id=4"]
    assert pages[1].t.timestamp() * 1000 >= resumed_at_ms
    async with live_server.services.db.session() as s:
        session = await s.get(Session, session_id)
    assert session is not None and session.status != "recording" and session.ended_at is not None
    # What the popup said is what the server holds.
    assert f"sent {len(events)} events" in (last_session or "") and "Server status: processing" in (last_session or "")
    assert len(of_type(events, "screenshot")) >= counts["screenshot"] > 0
