"""Tab visibility with the real extension: switching to another tab and back is recorded on the
page left behind as `visibility` hidden, then visible, stored and shown on the timeline; leaving
a page by navigating is not a tab switch.

Runs in a Chromium without Playwright's focus emulation, which would keep every tab visible
(tests/e2e/extension_session.py: chromium_without_focus_emulation)."""

from __future__ import annotations

import httpx

from lab.sites import load_site, page_url, serve_site
from tests.conftest import LiveServer
from tests.e2e.extension_session import SHOP, Extension, of_type, stored_events

# extension/content.js: VISIBILITY_SETTLE_MS is 250; a loaded machine gets more room.
SWITCH_PAUSE_MS = 1500


EXTENSION_OPTIONS = {"real_visibility": True}


async def test_switching_tabs_records_hidden_then_visible_on_the_page_left_behind(
    live_server: LiveServer, extension: Extension
) -> None:
    async with serve_site(load_site(SHOP)) as base:
        home = page_url(base, "v1", "index.html")
        session_id = await extension.start(live_server.url, live_server.participant_token)
        shop = await extension.new_tab()
        await shop.goto(home)
        await shop.wait_for_timeout(SWITCH_PAUSE_MS)
        other = await extension.new_tab()  # the participant opens another tab in front
        await other.goto("about:blank")
        await other.wait_for_timeout(SWITCH_PAUSE_MS)
        hidden_state = await shop.evaluate("document.visibilityState")
        await shop.bring_to_front()  # ... and comes back
        await shop.wait_for_timeout(SWITCH_PAUSE_MS)
        await shop.goto(page_url(base, "v1", "product.html?id=4"))  # unloads the page: no switch
        await shop.wait_for_timeout(SWITCH_PAUSE_MS)
        await extension.stop()
        await other.close()
        await shop.close()

    assert hidden_state == "hidden", "the tab behind another must be hidden for this test to mean anything"
    events = await stored_events(live_server.services.db, session_id)
    visibility = of_type(events, "visibility")
    assert [(e.payload["state"], e.url) for e in visibility] == [("hidden", home), ("visible", home)]
    hidden, visible = visibility
    (home_page, _product_page) = of_type(events, "page")
    assert home_page.seq < hidden.seq < visible.seq and hidden.t < visible.t
    assert hidden.page_id == visible.page_id is not None, "filed under the page that was left behind"
    async with httpx.AsyncClient(cookies={"codesight_token": live_server.user_token}) as client:
        html = (await client.get(f"{live_server.url}/sessions/{session_id}")).text
    assert "Tab hidden" in html and "Tab visible" in html
