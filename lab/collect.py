"""Automated collection: Chromium with the real extension walks a site's journey.

The driver only acts like a shopper (click, fill, select, scroll); everything the
session contains is captured and sent by the extension through the same ingest path
as a person's session. Works on any site folder in the DESIGN.md format.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from playwright.async_api import BrowserContext, Frame, Locator, Page, Worker, async_playwright

from lab.browser import CHROMIUM_ARGS as REPLAY_CHROMIUM_ARGS
from lab.browser import chromium_profile
from lab.sites import JourneyStep, Site, load_site, page_url, serve_site

log = structlog.get_logger(__name__)

# Chrome allows about two captureVisibleTab calls per second; leave the extension room
# for its before-click frame and the navigation burst between steps.
STEP_PAUSE_MS = 700
TARGET_TIMEOUT_MS = 10_000
STOP_TIMEOUT_MS = 60_000

# The replay browser's flags, and /tmp instead of a small /dev/shm for long extension sessions.
CHROMIUM_ARGS = [*REPLAY_CHROMIUM_ARGS, "--disable-dev-shm-usage"]


class CollectError(RuntimeError):
    """The journey could not be walked or the session not recorded; says which step."""


@asynccontextmanager
async def extension_browser(
    chromium: Path, extension_dir: Path, *, headless: bool = True
) -> AsyncIterator[tuple[BrowserContext, Worker]]:
    """Chromium with the CodeSight extension loaded; yields the context and its service worker."""
    ext = str(extension_dir)  # Chromium needs it absolute: callers pass a resolved path
    async with chromium_profile() as profile, async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(chromium),
            headless=headless,
            args=[*CHROMIUM_ARGS, f"--disable-extensions-except={ext}", f"--load-extension={ext}"],
            ignore_default_args=["--disable-extensions"],
            viewport={"width": 1280, "height": 800},
        )
        try:
            worker = context.service_workers[0] if context.service_workers else None
            if worker is None:
                worker = await context.wait_for_event("serviceworker", timeout=15_000)
            await worker.evaluate("() => globalThis.codesight !== undefined")
            yield context, worker
        finally:
            await context.close()


def _same_page(current_url: str, wanted_url: str) -> bool:
    a, b = urlsplit(current_url), urlsplit(wanted_url)
    return (a.netloc, a.path, a.query) == (b.netloc, b.path, b.query)


async def find_target(page: Page, lab_id: str, timeout_ms: int = TARGET_TIMEOUT_MS) -> Locator:
    """The journey target in any frame (open shadow roots pierced), waiting for scripts to create it."""
    selector = f'[data-lab-id="{lab_id}"]'
    deadline = asyncio.get_running_loop().time() + timeout_ms / 1000
    while True:
        frames: list[Frame] = [page.main_frame, *[f for f in page.frames if f is not page.main_frame]]
        for frame in frames:
            locator = frame.locator(selector)
            if await locator.count():
                return locator.first
        if asyncio.get_running_loop().time() > deadline:
            raise CollectError(f"target {lab_id!r} not found on {page.url} within {timeout_ms} ms")
        await asyncio.sleep(0.1)


async def perform(page: Page, step: JourneyStep) -> None:
    target = await find_target(page, step.target)
    await target.scroll_into_view_if_needed()
    if step.action == "click":
        await target.click()
    elif step.action == "fill":
        await target.click()
        await target.press_sequentially(step.value or "", delay=15)
        await target.dispatch_event("change")
    elif step.action == "select":
        await target.select_option(step.value or "")
    elif step.action == "scroll":
        await page.mouse.wheel(0, 400)
    else:
        raise CollectError(f"unknown action {step.action!r} for target {step.target!r}")


async def walk_journey(page: Page, site: Site, base_url: str, version: str) -> int:
    """Perform every journey step that exists in this version; returns how many were done."""
    done = 0
    for index, step in enumerate(site.journey):
        if version in step.removed_in:
            continue
        wanted = page_url(base_url, version, step.page)
        if not _same_page(page.url, wanted):
            await page.goto(wanted, wait_until="load")
        try:
            await perform(page, step)
        except CollectError:
            raise
        except Exception as exc:
            raise CollectError(f"journey step {index} ({step.action} {step.target!r}) failed: {exc}") from exc
        done += 1
        await page.wait_for_timeout(STEP_PAUSE_MS)
        await page.wait_for_load_state("load")
    return done


async def collect_session(
    site_dir: Path,
    *,
    server: str,
    token: str,
    version: str | None,
    chromium: Path,
    extension_dir: Path,
    headless: bool = True,
) -> str:
    """Record one automated session of the site's journey; returns the session id."""
    site = load_site(site_dir)
    version = version or site.versions[0]
    if version not in site.versions:
        raise CollectError(f"version {version!r} is not one of {site.versions} in {site_dir}/site.json")
    async with (
        serve_site(site) as base_url,
        extension_browser(chromium, extension_dir, headless=headless) as (
            context,
            worker,
        ),
    ):
        config = {"server": server, "token": token, "site": site.name, "siteVersion": version, "mode": "automated"}
        opened = await worker.evaluate("(config) => globalThis.codesight.startSession(config)", config)
        session_id = str(opened["id"])
        log.info("collect.started", session_id=session_id, site=site.name, version=version)
        page = context.pages[0] if context.pages else await context.new_page()
        steps = await walk_journey(page, site, base_url, version)
        result = await worker.evaluate("(timeoutMs) => globalThis.codesight.stopSession({timeoutMs})", STOP_TIMEOUT_MS)
        log.info("collect.finished", session_id=session_id, steps=steps, result=result)
    return session_id
