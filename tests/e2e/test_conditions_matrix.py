"""Every registered page state builds its page in real Chromium, and the engine judges targets in it.

A two-version site built in a temporary folder: a random id and a hashed class, a button in an
open shadow root, a button the page's script adds after load, a closed <dialog>, and in v2 a
reworded button and one target removed on purpose.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser
from sqlmodel import select

from lab.config import get_settings
from lab.db import Database
from lab.db.models import Event, ReplayResult, SelectorCandidate, Session
from lab.replay.conditions import DESKTOP, PageSource, ReplayCondition, default_matrix, state_names, state_spec
from lab.replay.engine import ReplayEngine, ReplayTarget, launch_browser
from lab.replay.journey import SNAPSHOT_SCRIPT, walk_journey
from lab.replay.run import replay_session
from lab.sites import JOURNEY_ACTIONS, load_site, serve_site

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

DESIGN_STATES = ("fresh", "reload", "snapshot", "modal", "dark", "slow", "next_version")
GENERATOR = get_settings().extension_dir / "generator.js"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tiny</title></head>
<body>
<main>
  <h1>Tiny shop</h1>
  <div class="{{ hashed('Card') }}">
    <button id="{{ rid('buy') }}" class="{{ hashed('Btn') }}" data-lab-id="buy">{{ buy }}</button>
    {% if version == 'v1' %}<button data-lab-id="later">Save for later</button>{% endif %}
  </div>
  <label>Email <input name="email" autocomplete="email" data-lab-id="email"></label>
  <size-picker></size-picker>
  <dialog><p>Added to cart</p><button>Keep shopping</button></dialog>
  <div id="late"></div>
</main>
<script>
  customElements.define("size-picker", class extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      this.attachShadow({ mode: "open" }).innerHTML = '<button data-lab-id="pick">Pick a size</button>';
    }
  });
  // Created by the page's own script after load; counts how often the script ran.
  setTimeout(() => {
    const b = document.createElement("button");
    b.textContent = "Chat with us";
    b.dataset.labId = "chat";
    document.getElementById("late").append(b);
    document.body.dataset.runs = String(Number(document.body.dataset.runs || 0) + 1);
  }, 200);
</script>
</body></html>
"""

JOURNEY = [
    {"page": "index.html", "action": "click", "target": "later", "removed_in": ["v2"]},
    {"page": "index.html", "action": "click", "target": "chat"},
    {"page": "index.html", "action": "fill", "target": "email", "value": "ada@example.com"},
    {"page": "index.html", "action": "click", "target": "pick"},
    {"page": "index.html", "action": "click", "target": "buy"},
]


def make_site(root: Path) -> Path:
    """A two-version site folder in the DESIGN.md format (v2 rewords "Buy now", drops "later")."""
    root.mkdir(parents=True, exist_ok=True)
    for version, buy in (("v1", "Buy now"), ("v2", "Buy it now")):
        (root / version).mkdir()
        (root / version / "index.html").write_text(PAGE.replace("{{ buy }}", buy))
    (root / "site.json").write_text(json.dumps({"name": "tiny", "versions": ["v1", "v2"]}))
    (root / "journey.json").write_text(json.dumps(JOURNEY))
    return root


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def matrix_browser() -> AsyncIterator[Browser]:
    async with launch_browser() as browser:
        yield browser


@dataclass(frozen=True)
class ServedSite:
    root: Path
    base_url: str
    snapshot: str  # v1's index page as stored once its late button is there


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(matrix_browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServedSite]:
    root = make_site(tmp_path_factory.mktemp("sites") / "tiny")
    async with serve_site(load_site(root), port=0) as base_url:
        yield ServedSite(root, base_url, await _snapshot_of(matrix_browser, f"{base_url}/v1/index.html"))


async def _snapshot_of(browser: Browser, url: str) -> str:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(url)
        await page.locator('[data-lab-id="chat"]').wait_for()
        html: str = await page.evaluate(f"({SNAPSHOT_SCRIPT})(document)")
        return html
    finally:
        await context.close()


STATE_CHECK = """() => ({
  generator: typeof globalThis.codesightSelectors?.resolve === "function",
  buttons: globalThis.codesightSelectors.query("css=button").length,
  navigation: performance.getEntriesByType("navigation")[0]?.type ?? null,
  dark: matchMedia("(prefers-color-scheme: dark)").matches,
  openDialogs: document.querySelectorAll("dialog[open]").length,
  runs: document.body.dataset.runs ?? null,
  shadow: !!document.querySelector("size-picker")?.shadowRoot?.querySelector("button"),
  path: location.pathname,
})"""


async def test_every_design_state_is_registered() -> None:
    assert set(DESIGN_STATES) <= set(state_names())


@pytest.mark.parametrize("state", DESIGN_STATES)
async def test_each_state_builds_its_page_with_the_generator_in_it(
    matrix_browser: Browser, served: ServedSite, state: str
) -> None:
    url = f"{served.base_url}/v1/index.html"
    source = PageSource(url, served.snapshot, f"{served.base_url}/v2/index.html")
    context = await matrix_browser.new_context(**DESKTOP.context_options())
    try:
        await context.add_init_script(path=GENERATOR)
        started = time.perf_counter()
        page = await state_spec(state).open(context, source)
        seconds = time.perf_counter() - started
        await page.wait_for_timeout(300)  # the page's own late script
        seen = await page.evaluate(STATE_CHECK)
    finally:
        await context.close()
    assert seen["generator"] and seen["buttons"] >= 2 and seen["shadow"], seen
    assert seen["path"] == ("/v2/index.html" if state == "next_version" else "/v1/index.html")
    assert seen["dark"] is (state == "dark")
    assert seen["navigation"] == ("reload" if state == "reload" else "navigate")
    assert seen["openDialogs"] == (1 if state == "modal" else 0)  # the page's own dialog, opened
    # Live pages ran their script once; the snapshot holds the DOM it built once and blocks it from running again.
    assert seen["runs"] == "1"
    if state == "slow":
        assert seconds >= 0.4  # at least one round trip of the throttled link's latency


async def test_engine_judges_every_target_under_the_whole_matrix_in_one_evaluate_per_page_state(
    matrix_browser: Browser, served: ServedSite
) -> None:
    matrix = default_matrix(["desktop"], list(DESIGN_STATES))
    walk = await walk_journey(matrix_browser, load_site(served.root), served.base_url, "v1", actions=JOURNEY_ACTIONS)
    engine = ReplayEngine(matrix_browser)
    run = await engine.run(walk.targets, matrix)
    assert len(walk.targets) == len(JOURNEY)
    assert not run.skipped
    assert {o.condition_id for o in run.outcomes} == {c.id for c in matrix}
    assert run.evaluate_calls == run.page_states == len(run.timings)
    removed = [o for o in run.outcomes if o.click_id.endswith(":later") and o.condition_id == "desktop/next_version"]
    assert [o.target for o in removed] == ["removed"]
    assert removed[0].pick == "none" and removed[0].resolved_correct
    judged = [o for o in run.outcomes if o.target == "present"]
    assert len(judged) == len(JOURNEY) * len(matrix) - 1
    wrong = [(o.click_id, o.condition_id, o.pick) for o in judged if o.pick != "target"]
    assert not wrong


async def test_a_state_whose_source_is_missing_is_skipped_not_failed(
    matrix_browser: Browser, served: ServedSite
) -> None:
    walk = await walk_journey(matrix_browser, load_site(served.root), served.base_url, "v1", snapshots=False)
    bare = [ReplayTarget(t.click_id, t.page_url, t.candidates, t.fingerprint, t.lab_id) for t in walk.targets]
    run = await ReplayEngine(matrix_browser).run(
        bare, default_matrix(["mobile"], ["fresh", "snapshot", "next_version"])
    )
    assert {s.condition_id for s in run.skipped} == {"mobile/snapshot", "mobile/next_version"}
    assert {o.condition_id for o in run.outcomes} == {"mobile/fresh"}
    assert ReplayCondition("mobile", "snapshot").loads == "snapshot"


async def test_session_replay_takes_the_wider_matrix(
    matrix_browser: Browser, database: Database, tmp_path: Path
) -> None:
    """The pipeline's replay step over states beyond the default 2x2: the next version of the site
    the session was recorded on is replayed too; the snapshot state, which a session without
    stored DOM cannot build, is skipped and writes no rows."""
    sites = tmp_path / "sites"
    site = load_site(make_site(sites / "tiny"))
    async with serve_site(site, port=0) as recorded_base:  # gone by replay time, as after `codesight collect`
        walk = await walk_journey(matrix_browser, site, recorded_base, "v1")
    async with database.session() as s:
        session = Session(mode="automated", site="tiny", site_version="v1")
        s.add(session)
        await s.flush()
        for seq, target in enumerate(walk.targets):
            event = Event(
                session_id=session.id,
                seq=seq,
                type="click",
                t=datetime.fromtimestamp(1_700_000_000 + seq, UTC),
                url=target.page_url,
                payload={
                    "lab_id": target.lab_id,
                    "selectors": {
                        "candidates": [c.to_wire() for c in target.candidates],
                        "fingerprint": dict(target.fingerprint),
                    },
                },
            )
            s.add(event)
            await s.flush()
            assert event.id is not None
            for rank, c in enumerate(target.candidates):
                s.add(
                    SelectorCandidate(
                        session_id=session.id,
                        event_id=event.id,
                        kind=c.kind,
                        value=c.selector,
                        rank=rank,
                        score=c.score,
                    )
                )
    matrix = default_matrix(["desktop"], ["fresh", "snapshot", "next_version"])

    summary = await replay_session(database, session.id, matrix, browser=matrix_browser, sites_dirs=[sites])

    candidates = sum(len(t.candidates) for t in walk.targets)
    assert summary.clicks == len(walk.targets) == 4  # the clicks of the journey
    assert summary.results_written == candidates * 2  # fresh and next_version; snapshot skipped
    assert [s.split(" ")[0] for s in summary.skipped] == ["desktop/snapshot"]
    assert summary.condition_top1["desktop/fresh"] == 1.0
    assert summary.condition_top1["desktop/snapshot"] is None
    async with database.session() as s:
        conditions = set((await s.exec(select(ReplayResult.condition).distinct())).all())
    assert conditions == {"desktop/fresh", "desktop/next_version"}
