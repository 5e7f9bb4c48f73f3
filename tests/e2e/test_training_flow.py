"""Training in real Chromium: element checks on stored DOM snapshots with the extension's generator,
and a trainer driving the dashboard — start a run, watch it live, deploy, roll back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from lab.replay.engine import launch_browser
from lab.training.dom_check import SnapshotCase, check_on_snapshots
from lab.training.fake_openai import FakeOpenAI, RunningFake, serve_fake_openai
from tests.conftest import LiveServer
from tests.integration.training_support import (
    BASE,
    STEPS_PER_SESSION,
    fake_settings,
    page_html,
    record_trainable_site,
    running_worker,
    start_run,
    wait_for_run,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PLACE_ORDER = {"kind": "testid", "selector": '[data-testid="place-order"]'}
BOTH_BUTTONS = {"kind": "css", "selector": "form > button"}
SAVE_ORDER = {"kind": "testid", "selector": '[data-testid="save-order"]'}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def check_browser() -> AsyncIterator[Browser]:
    async with launch_browser() as launched:
        yield launched


async def test_predicted_selectors_are_checked_against_the_stored_dom(check_browser: Browser) -> None:
    html = page_html("checkout.html", "Checkout")
    expected = {"candidates": [PLACE_ORDER, BOTH_BUTTONS], "fingerprint": {}}
    case = SnapshotCase(
        f"{BASE}/checkout.html#review",
        html,
        expected,
        [
            [PLACE_ORDER],  # right
            [BOTH_BUTTONS],  # in the expected list, but matches two buttons: resolves to nothing
            [SAVE_ORDER],  # unique, but the other button
            [BOTH_BUTTONS, PLACE_ORDER],  # the first unique one is right
            [],
        ],
    )
    gone = SnapshotCase(f"{BASE}/checkout.html", html, {"candidates": [{"kind": "css", "selector": "#nope"}]}, [[]])

    verdicts = await check_on_snapshots([case, gone], browser=check_browser)

    assert verdicts[0].found and verdicts[0].picks == (True, False, False, True, False)
    assert not verdicts[1].found


@pytest_asyncio.fixture(loop_scope="session")
async def fake_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningFake]:
    async with serve_fake_openai(FakeOpenAI(phase_s=0.05)) as running:
        with fake_settings(monkeypatch, running):
            yield running


@pytest_asyncio.fixture(loop_scope="session")
async def trainer(fake_server: RunningFake, live_server: LiveServer) -> AsyncIterator[LiveServer]:
    """The web app and a worker, every provider pointed at the local server (set up first, so the
    web app's settings see it too)."""
    async with running_worker(live_server.services.queue):
        yield live_server


async def test_trainer_starts_watches_deploys_and_rolls_back_in_the_dashboard(
    check_browser: Browser, trainer: LiveServer
) -> None:
    await record_trainable_site(trainer.services.db, trainer.services.blobs, snapshots=True)
    headers = {"Authorization": f"Bearer {trainer.user_token}"}
    async with httpx.AsyncClient(base_url=trainer.url, headers=headers, timeout=30) as api:
        first = await wait_for_run(api, (await start_run(api))["id"])
        assert first["status"] == "succeeded", first
        element_check = first["evaluation"]["element_check"]
        # Every held-out step is a click, fill or select on a page with a stored snapshot.
        assert element_check["counts"] == {"dom_snapshot": first["evaluation"]["n_steps"]}
        assert first["evaluation"]["n_steps"] % STEPS_PER_SESSION == 0
        assert first["evaluation"]["element_accuracy"] == 1.0
        assert first["evaluation"]["compared_to"]["base"]["element_accuracy"] == 0.0

        context = await check_browser.new_context(base_url=trainer.url)
        page = await context.new_page()
        await page.goto("/login")
        await page.fill("#token", trainer.user_token)
        await page.click("button[type=submit]")
        await page.goto("/training")
        await page.click("a[href='/training/sites/shop']")
        await expect(page.locator("#provider-warning")).to_contain_text("2027-01-06")
        await page.select_option("#provider", "azure")
        await expect(page.locator("#provider-warning")).to_have_count(0)  # HTMX re-proposed for Azure
        await page.fill("input[name=n_epochs]", "4")
        await page.click("#start")
        await page.wait_for_url("**/training/runs/*")
        # The status card follows the run's live events; no reload here, and sooner than its 30 s polling fallback.
        await expect(page.locator("#run-state")).to_contain_text("succeeded", timeout=20_000)
        await expect(page.locator("#evaluation")).to_be_visible()
        await expect(page.locator("#run-status")).to_contain_text("Not deployed automatically")
        await expect(page.locator("#run-status")).to_contain_text("stored DOM snapshot")
        second_id = page.url.rsplit("/", 1)[-1]
        second = (await api.get(f"/api/v1/training/runs/{second_id}")).json()
        assert second["provider"] == "azure" and second["hyperparameters"]["n_epochs"] == 4

        await page.click("#deploy")
        await expect(page.locator("#deployed")).to_be_visible()
        assert (await api.get("/api/v1/training/deployments/shop")).json()["active"]["model"] == second[
            "fine_tuned_model"
        ]
        await page.goto("/training/sites/shop")
        await expect(page.locator("#metrics tbody tr")).to_have_count(2)
        await expect(page.locator("svg.spark polyline")).to_have_count(1)
        await page.click("#rollback")
        await page.wait_for_url("**/training/sites/shop")
        active = (await api.get("/api/v1/training/deployments/shop")).json()["active"]
        assert active["model"] == first["fine_tuned_model"]
        await expect(page.get_by_text("rolled back")).to_be_visible()
        await context.close()
