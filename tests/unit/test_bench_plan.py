"""Pure parts around the selector benchmark: page-state planning, version URLs, the baseline wrapper."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page

from lab.bench.baselines import BaselineUnavailable, classic_finder
from lab.replay import conditions
from lab.replay.conditions import PageSource, ReplayCondition, full_matrix, state_spec
from lab.replay.engine import ReplayTarget, plan_cells
from lab.replay.urls import next_version_url, with_version
from lab.selectors.outcomes import Candidate

CANDIDATES = (Candidate("role", 'role=button[name="Buy"]', 100.0),)


def target(click: str, url: str, snapshot: str | None = None, storage: dict[str, object] | None = None) -> ReplayTarget:
    return ReplayTarget(click, url, CANDIDATES, snapshot_html=snapshot, storage_state=storage)


def test_the_full_matrix_is_three_viewports_by_the_seven_design_states() -> None:
    ids = [c.id for c in full_matrix()]
    for state in ("fresh", "reload", "snapshot", "modal", "dark", "slow", "next_version"):
        assert {f"{v}/{state}" for v in ("mobile", "tablet", "desktop")} <= set(ids)


def test_states_say_what_they_load() -> None:
    assert ReplayCondition("mobile", "snapshot").loads == "snapshot"
    assert ReplayCondition("mobile", "next_version").loads == "next_version"
    assert ReplayCondition("mobile", "modal").loads == "live"
    assert state_spec("snapshot").takes_source and not state_spec("fresh").takes_source


def test_a_state_may_take_the_page_source_as_a_third_parameter() -> None:
    @conditions.register("test-bench-source", loads="snapshot")
    async def from_source(ctx: BrowserContext, page_url: str, source: PageSource) -> Page:
        raise AssertionError("never called")

    assert state_spec("test-bench-source").takes_source
    with pytest.raises(ValueError, match="expected"):

        @conditions.register("test-bench-bad")
        async def bad(ctx: BrowserContext) -> Page:
            raise AssertionError("never called")


def test_live_states_load_each_page_once_and_the_snapshot_state_once_per_stored_dom() -> None:
    targets = [
        target("a", "http://s/v1/index.html", "<html>A</html>"),
        target("b", "http://s/v1/index.html", "<html>B</html>"),
        target("c", "http://s/v1/index.html", "<html>B</html>"),  # a fill changes no attribute: same DOM
        target("d", "http://s/v1/cart.html", "<html>C</html>"),
    ]
    cells = plan_cells(targets, [ReplayCondition("desktop", "fresh"), ReplayCondition("desktop", "snapshot")])
    fresh = [[t.click_id for t in c.targets] for c in cells if c.condition.state == "fresh"]
    snapshot = [[t.click_id for t in c.targets] for c in cells if c.condition.state == "snapshot"]
    assert fresh == [["a", "b", "c"], ["d"]]
    assert snapshot == [["a"], ["b", "c"], ["d"]]
    assert all(c.source.snapshot_html is None for c in cells if c.condition.state == "fresh")


def test_pages_entered_with_different_storage_are_different_page_states() -> None:
    targets = [
        target("a", "http://s/v1/cart.html", storage={"origins": []}),
        target("b", "http://s/v1/cart.html", storage={"origins": [{"origin": "http://s", "localStorage": []}]}),
    ]
    cells = plan_cells(targets, [ReplayCondition("mobile", "fresh")])
    assert [c.storage_state for c in cells] == [t.storage_state for t in targets]


def test_a_removed_target_is_expected_only_outside_the_next_version() -> None:
    removed = ReplayTarget("a", "http://s/v1/", CANDIDATES, present_in_next_version=False)
    assert removed.expected_in(ReplayCondition("tablet", "fresh"))
    assert not removed.expected_in(ReplayCondition("tablet", "next_version"))
    assert removed.to_script(ReplayCondition("tablet", "next_version"))["expect_present"] is False


def test_version_urls() -> None:
    versions = ("v1", "v2")
    assert with_version("http://h:1/v1/product.html?id=7#x", versions, "v2") == "http://h:1/v2/product.html?id=7#x"
    assert with_version("http://h:1/shop/v1/", versions, "v2") == "http://h:1/shop/v2/"
    assert with_version("https://real.example/cart", versions, "v2") is None
    assert next_version_url("http://h/v1/cart.html", versions) == "http://h/v2/cart.html"
    assert next_version_url("http://h/v2/cart.html", versions) is None


def test_finder_module_becomes_a_classic_script() -> None:
    source = "const x = 1;\nexport function finder(el, options) { return 'a'; }\nexport function attr() {}\n"
    script = classic_finder(source)
    assert "export" not in script and "globalThis.__csFinder = finder;" in script
    with pytest.raises(BaselineUnavailable, match="imports"):
        classic_finder("import { x } from './x.js';\nexport function finder() {}")
