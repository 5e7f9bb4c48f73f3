"""The condition registry and matrix (no browser is started: state functions are only registered)."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import BrowserContext, Page

from lab.config import get_settings
from lab.replay import conditions
from lab.replay.conditions import DESKTOP, MOBILE, TABLET, ReplayCondition, default_matrix


def test_viewports_have_the_design_sizes() -> None:
    assert (MOBILE.width, MOBILE.height) == (390, 844)
    assert (TABLET.width, TABLET.height) == (820, 1180)
    assert (DESKTOP.width, DESKTOP.height) == (1440, 900)
    assert DESKTOP.context_options()["viewport"] == {"width": 1440, "height": 900}


def test_builtin_states_are_registered() -> None:
    assert {"fresh", "reload", "dark"} <= set(conditions.state_names())


def test_condition_id_joins_viewport_and_state() -> None:
    condition = ReplayCondition("mobile", "fresh")
    assert condition.id == "mobile/fresh"
    assert ReplayCondition.parse("desktop/reload") == ReplayCondition("desktop", "reload")


def test_default_matrix_is_settings_viewports_times_states() -> None:
    settings = get_settings()
    ids = [c.id for c in default_matrix()]
    assert ids == [f"{v}/{s}" for v in settings.replay_viewports for s in settings.replay_states]
    assert ids == ["mobile/fresh", "mobile/reload", "desktop/fresh", "desktop/reload"]


def test_default_matrix_takes_explicit_axes() -> None:
    ids = [c.id for c in default_matrix(["tablet"], ["fresh", "dark"])]
    assert ids == ["tablet/fresh", "tablet/dark"]


def test_adding_a_state_is_registering_one_function() -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"

    @conditions.register(name)
    async def custom(ctx: BrowserContext, page_url: str) -> Page:
        page = await ctx.new_page()
        await page.goto(page_url)
        return page

    assert conditions.page_state(name) is custom
    assert [c.id for c in default_matrix(["mobile"], [name])] == [f"mobile/{name}"]


def test_registering_a_name_twice_fails() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @conditions.register("fresh")
        async def again(ctx: BrowserContext, page_url: str) -> Page:
            raise AssertionError("never called")


def test_unknown_state_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown page state 'sepia'.*fresh"):
        ReplayCondition("mobile", "sepia")


def test_unknown_viewport_is_named() -> None:
    with pytest.raises(ValueError, match=r"viewport: unknown 'watch'"):
        default_matrix(["watch"], ["fresh"])


def test_condition_id_without_separator_is_rejected() -> None:
    with pytest.raises(ValueError, match="viewport/state"):
        ReplayCondition.parse("mobile")
