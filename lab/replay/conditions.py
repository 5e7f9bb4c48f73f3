"""Replay conditions: a viewport x a page state. A page state is one registered function.

A state function gets a fresh browser context (already sized to the viewport, with the
selector generator injected) and the page URL, and returns the loaded page:

    @register("dark")
    async def dark(ctx: BrowserContext, page_url: str) -> Page: ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from playwright.async_api import BrowserContext, Page

from lab.config import get_settings


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int
    is_mobile: bool = False
    has_touch: bool = False

    def context_options(self) -> dict[str, Any]:
        """Keyword arguments for `browser.new_context` that emulate this viewport."""
        return {
            "viewport": {"width": self.width, "height": self.height},
            "is_mobile": self.is_mobile,
            "has_touch": self.has_touch,
        }


# Sizes from DESIGN.md: a phone (iPhone 12-15 class), a tablet (iPad Air), a laptop.
MOBILE = Viewport("mobile", 390, 844, is_mobile=True, has_touch=True)
TABLET = Viewport("tablet", 820, 1180, is_mobile=True, has_touch=True)
DESKTOP = Viewport("desktop", 1440, 900)
VIEWPORTS: dict[str, Viewport] = {v.name: v for v in (MOBILE, TABLET, DESKTOP)}

PageState = Callable[[BrowserContext, str], Awaitable[Page]]
_STATES: dict[str, PageState] = {}


def register(name: str) -> Callable[[PageState], PageState]:
    """Register a page state under `name`; registering a name twice is a bug and raises."""

    def decorate(fn: PageState) -> PageState:
        if name in _STATES:
            raise ValueError(f"page state {name!r} is already registered (by {_STATES[name].__qualname__})")
        if "/" in name:
            raise ValueError(f"page state {name!r}: '/' separates viewport and state in condition ids")
        _STATES[name] = fn
        return fn

    return decorate


def page_state(name: str) -> PageState:
    """The registered function for a page state; raises ValueError naming the known states."""
    try:
        return _STATES[name]
    except KeyError:
        raise ValueError(f"unknown page state {name!r}; registered: {', '.join(sorted(_STATES))}") from None


def state_names() -> list[str]:
    """Registered page states in registration order."""
    return list(_STATES)


@dataclass(frozen=True)
class ReplayCondition:
    """One cell of the replay matrix; `id` (`mobile/fresh`) is what ReplayResult.condition stores."""

    viewport: str
    state: str

    def __post_init__(self) -> None:
        if self.viewport not in VIEWPORTS:
            raise ValueError(f"viewport: unknown {self.viewport!r}; known: {', '.join(VIEWPORTS)}")
        page_state(self.state)

    @property
    def id(self) -> str:
        return f"{self.viewport}/{self.state}"

    @classmethod
    def parse(cls, condition_id: str) -> ReplayCondition:
        """The condition named by an id such as `mobile/reload`."""
        viewport, sep, state = condition_id.partition("/")
        if not sep:
            raise ValueError(f"condition: expected 'viewport/state', got {condition_id!r}")
        return cls(viewport, state)


def default_matrix(
    viewports: Sequence[str] | None = None, states: Sequence[str] | None = None
) -> list[ReplayCondition]:
    """Every viewport x every state; from settings (replay_viewports, replay_states) when not given."""
    settings = get_settings()
    return [
        ReplayCondition(viewport, state)
        for viewport in (settings.replay_viewports if viewports is None else viewports)
        for state in (settings.replay_states if states is None else states)
    ]


@register("fresh")
async def fresh(ctx: BrowserContext, page_url: str) -> Page:
    """A plain first load."""
    page = await ctx.new_page()
    await page.goto(page_url)
    return page


@register("reload")
async def reload(ctx: BrowserContext, page_url: str) -> Page:
    """Load, then reload: dynamic ids, hashed classes and shuffled lists come out different."""
    page = await ctx.new_page()
    await page.goto(page_url)
    await page.reload()
    return page


@register("dark")
async def dark(ctx: BrowserContext, page_url: str) -> Page:
    """A first load with `prefers-color-scheme: dark`, which restyles (and sometimes restructures) pages."""
    page = await ctx.new_page()
    await page.emulate_media(color_scheme="dark")
    await page.goto(page_url)
    return page
