"""The dashboard's forms in real Chromium: a refused form shows why (htmx swaps 409 and 422 answers
in place), and a failed pipeline is run again from its status card."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from lab.replay.engine import launch_browser
from tests.conftest import LiveServer
from tests.e2e.test_live_dashboard import LIVE_TIMEOUT_MS, open_session, signed_in_page
from tests.integration.test_pipeline_recovery import failed_session

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def forms_browser() -> AsyncIterator[Browser]:
    async with launch_browser() as launched:
        yield launched


async def test_rejecting_without_a_reason_shows_the_error_in_place(
    forms_browser: Browser, live_server: LiveServer
) -> None:
    sid = await open_session(live_server)
    page = await signed_in_page(forms_browser, live_server)
    await page.goto(f"/sessions/{sid}")

    await page.click("#review button.reject")

    await expect(page.locator("#review .error")).to_contain_text("reason: say why the session is rejected")
    await page.fill("#review input[name=reason]", "the shopper left after one page")
    await page.click("#review button.reject")
    await expect(page.locator("#review")).to_contain_text("the shopper left after one page")
    await expect(page.locator("#review .error")).to_have_count(0)
    await page.context.close()


async def test_a_failed_pipeline_runs_again_from_its_status_card(
    forms_browser: Browser, live_server: LiveServer, archive_key: bytes
) -> None:
    sid, key, saved = await failed_session(live_server)
    page = await signed_in_page(forms_browser, live_server)
    await page.goto(f"/sessions/{sid}")
    card = page.locator(".status-card")
    await expect(card.locator("pre.error")).to_contain_text("FileNotFoundError")

    await live_server.services.blobs.put(key, saved)
    await card.get_by_role("button", name="Run again from quality").click()

    await expect(card.locator(".facts")).to_contain_text("processing")
    await expect(card.get_by_role("button", name="Run again from quality")).to_have_count(0)
    await page.context.close()


async def test_a_filtered_list_stays_filtered_while_it_updates_live(
    forms_browser: Browser, live_server: LiveServer
) -> None:
    await open_session(live_server)  # a shop session, so the site menu offers shop
    page = await signed_in_page(forms_browser, live_server)
    await page.wait_for_function("window.__liveReady > 0")
    await page.select_option("#session-filters select[name=mode]", "human")
    await expect(page).to_have_url(re.compile(r"/sessions\?.*mode=human"))
    await expect(page.locator("#session-rows")).to_contain_text("No sessions match these filters.")

    automated = await open_session(live_server)
    human = await open_session(live_server, mode="human")

    await expect(page.locator("#session-rows")).to_contain_text(str(human)[:8], timeout=LIVE_TIMEOUT_MS)
    await expect(page.locator("#session-rows")).not_to_contain_text(str(automated)[:8])
    await page.context.close()
