"""Replay conditions: a viewport x a page state. A page state is one registered function.

A state function gets a fresh browser context (already sized to the viewport, with the
selector generator injected) and the page URL, and returns the loaded page:

    @register("dark")
    async def dark(ctx: BrowserContext, page_url: str) -> Page: ...

A state that needs more than the URL declares a third parameter and receives the
`PageSource` (the DOM stored at capture time, the URL of the same page in the site's next
version). `register(..., loads=...)` tells the engine what the state loads: the live page,
the stored snapshot (one page state per stored snapshot) or the next version (where targets
removed on purpose should be found nowhere). A state raises `ConditionUnavailable` when its
source is missing (no snapshot was stored, the site has no next version): that cell is
skipped, not failed.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from playwright.async_api import BrowserContext, Page, Route

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


@dataclass(frozen=True)
class PageSource:
    """What a page state may load: the recorded URL and, when known, the DOM stored at capture
    time (scripts included as text; they are not run) and the same page's URL in the next version."""

    url: str
    snapshot_html: str | None = None
    next_version_url: str | None = None


class ConditionUnavailable(LookupError):
    """This page state cannot be built for this page (no stored snapshot, no next version)."""


Loads = Literal["live", "snapshot", "next_version"]
PageState = Callable[..., Awaitable[Page]]


@dataclass(frozen=True)
class StateSpec:
    """A registered page state: the function and what it loads."""

    name: str
    fn: PageState
    loads: Loads
    takes_source: bool

    async def open(self, ctx: BrowserContext, source: PageSource) -> Page:
        """Build this state for `source` in `ctx` and return the loaded page."""
        if self.takes_source:
            return await self.fn(ctx, source.url, source)
        return await self.fn(ctx, source.url)


_STATES: dict[str, StateSpec] = {}


def register(name: str, *, loads: Loads = "live") -> Callable[[PageState], PageState]:
    """Register a page state under `name`; registering a name twice is a bug and raises."""

    def decorate(fn: PageState) -> PageState:
        if name in _STATES:
            raise ValueError(f"page state {name!r} is already registered (by {_STATES[name].fn.__qualname__})")
        if "/" in name:
            raise ValueError(f"page state {name!r}: '/' separates viewport and state in condition ids")
        positional = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(positional) not in (2, 3):
            raise ValueError(f"page state {name!r}: expected (ctx, page_url) or (ctx, page_url, source)")
        _STATES[name] = StateSpec(name, fn, loads, takes_source=len(positional) == 3)
        return fn

    return decorate


def state_spec(name: str) -> StateSpec:
    """The registered page state; raises ValueError naming the known states."""
    try:
        return _STATES[name]
    except KeyError:
        raise ValueError(f"unknown page state {name!r}; registered: {', '.join(sorted(_STATES))}") from None


def page_state(name: str) -> PageState:
    """The registered function for a page state; raises ValueError naming the known states."""
    return state_spec(name).fn


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

    @property
    def loads(self) -> Loads:
        return state_spec(self.state).loads

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


def full_matrix() -> list[ReplayCondition]:
    """Every viewport x every registered state: DESIGN.md's whole matrix."""
    return default_matrix(list(VIEWPORTS), state_names())


# --- the states ------------------------------------------------------------------------

# Throttling of the `slow` state, a slow 3G-like link: DevTools' "Slow 3G" preset is
# 400 kbit/s down and up with 400 ms latency (chromium front_end/core/sdk/NetworkManager.ts),
# and Lighthouse's mobile profile slows the CPU 4x.
SLOW_LATENCY_MS = 400
SLOW_THROUGHPUT_BYTES_PER_S = 400 * 1000 // 8
SLOW_CPU_RATE = 4

# The overlay the `modal` state injects when the page has no dialog of its own: the most common
# real-site modal, a newsletter offer with its own email field and buttons, over a backdrop.
MODAL_SCRIPT = """() => {
  const own = [...document.querySelectorAll('dialog')].find((d) => !d.open);
  if (own) {
    try { own.showModal(); return 'site'; } catch (e) { /* not connected or already open: inject ours */ }
  }
  const backdrop = document.createElement('div');
  backdrop.setAttribute('data-codesight-overlay', 'backdrop');
  backdrop.style.cssText = 'position:fixed;inset:0;background:rgba(0,0,0,.45);z-index:2147483646';
  const dialog = document.createElement('dialog');
  dialog.setAttribute('open', '');
  dialog.setAttribute('aria-labelledby', 'codesight-modal-title');
  dialog.setAttribute('data-codesight-overlay', 'dialog');
  dialog.style.cssText = 'position:fixed;top:15%;z-index:2147483647;max-width:360px;border-radius:12px;padding:20px';
  dialog.innerHTML = `
    <h2 id="codesight-modal-title">Get 10% off your first order</h2>
    <p>Join our newsletter for new arrivals and offers.</p>
    <form method="dialog">
      <label>Email address <input type="email" name="newsletter_email" placeholder="you@example.com"></label>
      <button type="submit">Subscribe</button>
      <button type="button" aria-label="Close">&times;</button>
    </form>`;
  document.body.append(backdrop, dialog);
  return 'injected';
}"""


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


@register("snapshot", loads="snapshot")
async def snapshot(ctx: BrowserContext, page_url: str, source: PageSource) -> Page:
    """The DOM stored at capture time, served at the same URL with page scripts blocked by CSP
    (the injected generator still runs: init scripts bypass CSP)."""
    html = source.snapshot_html
    if html is None:
        raise ConditionUnavailable(f"no stored DOM snapshot for {page_url}")
    page = await ctx.new_page()

    async def serve_snapshot(route: Route) -> None:
        await route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            body=html,
            headers={"Content-Security-Policy": "script-src 'none'", "Cache-Control": "no-store"},
        )

    await page.route(lambda url: url == page_url, serve_snapshot)
    await page.goto(page_url)
    return page


@register("modal")
async def modal(ctx: BrowserContext, page_url: str) -> Page:
    """A first load with a modal open over the page: the page's own closed <dialog> if it has
    one, otherwise an injected newsletter dialog and backdrop."""
    page = await ctx.new_page()
    await page.goto(page_url)
    await page.evaluate(MODAL_SCRIPT)
    return page


@register("dark")
async def dark(ctx: BrowserContext, page_url: str) -> Page:
    """A first load with `prefers-color-scheme: dark`, which restyles (and sometimes restructures) pages."""
    page = await ctx.new_page()
    await page.emulate_media(color_scheme="dark")
    await page.goto(page_url)
    return page


@register("slow")
async def slow(ctx: BrowserContext, page_url: str) -> Page:
    """A first load over a throttled network with a throttled CPU (CDP), so content renders late."""
    page = await ctx.new_page()
    cdp = await ctx.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": SLOW_LATENCY_MS,
            "downloadThroughput": SLOW_THROUGHPUT_BYTES_PER_S,
            "uploadThroughput": SLOW_THROUGHPUT_BYTES_PER_S,
        },
    )
    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": SLOW_CPU_RATE})
    await page.goto(page_url)
    return page


@register("next_version", loads="next_version")
async def next_version(ctx: BrowserContext, page_url: str, source: PageSource) -> Page:
    """The same page in the site's next version (the redesign): removed targets must be found nowhere."""
    if source.next_version_url is None:
        raise ConditionUnavailable(f"no next version known for {page_url}")
    page = await ctx.new_page()
    await page.goto(source.next_version_url)
    return page
