"""Behaviour insights: what a shopper did around each action, from the session's events alone.

Every function is pure over `events` (one session, in seq order) and, for per-step insights,
the `index` of the action in that list; only events before the action are read, so an
insight never leaks what happened next. Event types these functions do not know are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lab.insights.events import (
    ACTION_TYPES,
    HOVER_TYPES,
    NAVIGATION_TYPE,
    PAGE_TYPE,
    SCROLL_TYPE,
    SUBMIT_TYPE,
    VISIBILITY_TYPE,
    JourneyEvent,
    duration_ms,
    first_selector,
    is_interactive,
    names_element,
    page_key,
    same_element,
    scroll_depth_pct,
    target_text,
)
from lab.insights.pages import PRICE_WORDS, PageKind, is_add_to_cart, is_price_text, page_kind

# A page change this soon after a click, key press or form input is that action's effect.
NAVIGATION_CAUSE_WINDOW_MS = 2000
# Navigation kinds only the shopper causes: the browser's back/forward buttons, a typed address.
EXPLICIT_NAVIGATION_KINDS = frozenset({"back_forward", "back", "forward", "typed"})


def _page_kind(event: JourneyEvent) -> PageKind:
    structure = event.payload.get("structure")
    structure = structure if isinstance(structure, dict) else {}
    headings = [str(h) for h in structure.get("headings") or ()]
    return page_kind(event.url, str(event.payload.get("title") or ""), headings, structure)


def is_action(event: JourneyEvent) -> bool:
    return event.type in ACTION_TYPES


def adds_to_cart(event: JourneyEvent) -> bool:
    """Whether an action puts an item in the cart: a click on a control labelled 'Add to cart/bag/basket'."""
    return event.type in ("click", "dblclick") and is_add_to_cart(target_text(event), first_selector(event))


def _previous_action_index(events: Sequence[JourneyEvent], index: int) -> int:
    """Index of the last action before `index`, or -1."""
    for i in range(index - 1, -1, -1):
        if is_action(events[i]):
            return i
    return -1


def _current_page_index(events: Sequence[JourneyEvent], index: int) -> int:
    """Index of the page event the action at `index` happened on, or -1."""
    for i in range(index - 1, -1, -1):
        if events[i].type == PAGE_TYPE:
            return i
    return -1


def hidden_ms(events: Sequence[JourneyEvent], start: int, end: int) -> int:
    """Milliseconds the tab was hidden (visibility events) between events[start] and events[end]."""
    total = 0
    hidden_since: int | None = None
    for event in events[: end + 1]:
        if event.type != VISIBILITY_TYPE:
            continue
        state = event.payload.get("state")
        if state == "hidden" and hidden_since is None:
            hidden_since = event.t_ms
        elif state == "visible" and hidden_since is not None:
            total += _overlap(hidden_since, event.t_ms, events[start].t_ms, events[end].t_ms)
            hidden_since = None
    if hidden_since is not None:
        total += _overlap(hidden_since, events[end].t_ms, events[start].t_ms, events[end].t_ms)
    return total


def _overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> int:
    return max(0, min(a_end, b_end) - max(a_start, b_start))


def dwell_before_ms(events: Sequence[JourneyEvent], index: int) -> int | None:
    """Dwell before acting: milliseconds from the later of (the page event of the current page,
    the previous action) to this action, less the time the tab was hidden in between. None for
    an action with neither before it."""
    starts = [i for i in (_previous_action_index(events, index), _current_page_index(events, index)) if i >= 0]
    if not starts:
        return None
    start = max(starts, key=lambda i: events[i].t_ms)
    return max(0, events[index].t_ms - events[start].t_ms - hidden_ms(events, start, index))


@dataclass(frozen=True)
class Hesitation:
    count: int
    ms: int


def hesitation(events: Sequence[JourneyEvent], index: int) -> Hesitation:
    """Hesitation: hover or dwell events since the previous action over interactive elements that
    the shopper did not click: not ended by a click on that element (`ended_by: "click"`), and
    not on the element this action is on. How many, and their summed duration in ms (an event
    that reports no duration counts with 0 ms)."""
    action = events[index]
    count = total_ms = 0
    for event in events[_previous_action_index(events, index) + 1 : index]:
        if event.type not in HOVER_TYPES or not is_interactive(event) or not names_element(event):
            continue
        if event.payload.get("ended_by") == "click" or same_element(event, action):
            continue
        count += 1
        total_ms += duration_ms(event) or 0
    return Hesitation(count, total_ms)


def products_compared(events: Sequence[JourneyEvent], index: int) -> int:
    """Comparisons: distinct product pages (by URL without fragment) visited since the previous
    add-to-cart action, or since the session began, up to this action. On an add-to-cart step
    this is how many products the shopper looked at before adding this one."""
    seen: set[str] = set()
    for event in events[:index]:
        if adds_to_cart(event):
            seen.clear()
        elif event.type == PAGE_TYPE and _page_kind(event) == "product":
            seen.add(page_key(event.url))
    return len(seen)


@dataclass(frozen=True)
class Backtracking:
    count: int
    on_revisited_page: bool


def backtracking(events: Sequence[JourneyEvent], index: int) -> Backtracking:
    """Backtracking: arrivals (page events) before this action at a URL visited earlier in the
    session, not counting a reload of the page just shown; and whether the page this action
    happens on is such a return (a history 'back' to an earlier page is one)."""
    visited: set[str] = set()
    current: str | None = None
    count = 0
    returned = False
    for event in events[:index]:
        if event.type != PAGE_TYPE:
            continue
        key = page_key(event.url)
        if key == current:
            continue
        returned = key in visited
        count += returned
        visited.add(key)
        current = key
    return Backtracking(count, returned)


def scroll_depth_before(events: Sequence[JourneyEvent], index: int) -> float | None:
    """Scroll depth: the deepest point (percent of the page height, 0-100) that scroll events
    reached on the current page before this action; 0 when the page was not scrolled; None
    when the session records no scroll depth at all (older captures)."""
    if not any(e.type == SCROLL_TYPE and scroll_depth_pct(e) is not None for e in events):
        return None
    depths = [
        depth
        for event in events[_current_page_index(events, index) + 1 : index]
        if event.type == SCROLL_TYPE and (depth := scroll_depth_pct(event)) is not None
    ]
    return max(depths, default=0.0)


@dataclass(frozen=True)
class PriceChecks:
    count: int
    ms: int
    cart_views: int


def _names_price(event: JourneyEvent) -> bool:
    """A control about prices: its text, label or selector names price/total/cost ("Sort by price")."""
    return bool(PRICE_WORDS.search(target_text(event)) or PRICE_WORDS.search(first_selector(event) or ""))


def price_checks(events: Sequence[JourneyEvent], index: int) -> PriceChecks:
    """Price checks, since the session began and before this action:
    - each hover or dwell on an element showing an amount of money or naming a price ("$12.99",
      "Total") is one check, its duration added to `ms`;
    - each click or form input on a price control (sort or filter by price) is one check; a
      click on a control that merely shows an amount ("Add to cart - $49") is buying, not checking;
    - `cart_views` counts visits to cart pages, where the shopper sees the total."""
    count = total_ms = cart_views = 0
    for event in events[:index]:
        if event.type in HOVER_TYPES and is_price_text(target_text(event) or first_selector(event) or ""):
            count += 1
            total_ms += duration_ms(event) or 0
        elif event.type in ("click", "input") and _names_price(event):
            count += 1
        elif event.type == PAGE_TYPE and _page_kind(event) == "cart":
            cart_views += 1
    return PriceChecks(count, total_ms, cart_views)


@dataclass(frozen=True)
class Abandonment:
    reached_checkout: bool
    reached_confirmation: bool
    unfinished_forms: int

    @property
    def abandoned(self) -> bool:
        return not self.reached_checkout or self.unfinished_forms > 0


def abandonment(events: Sequence[JourneyEvent]) -> Abandonment:
    """Abandonment of a whole session: it is abandoned when it ended without reaching a checkout
    or confirmation page, or left a form unfinished. A form is unfinished when a page visit
    has input events and neither a submit event nor any click follows its last input before the
    visit ends (the next page event, or the end of the session)."""
    kinds = {_page_kind(e) for e in events if e.type == PAGE_TYPE}
    unfinished = 0
    pending_input = False
    for event in events:
        if event.type == PAGE_TYPE:
            unfinished += pending_input
            pending_input = False
        elif event.type == "input":
            pending_input = True
        elif event.type in (SUBMIT_TYPE, "click", "dblclick"):
            pending_input = False
    unfinished += pending_input
    return Abandonment(
        reached_checkout=bool(kinds & {"checkout", "confirmation"}),
        reached_confirmation="confirmation" in kinds,
        unfinished_forms=unfinished,
    )


@dataclass(frozen=True)
class StepInsights:
    """The behaviour around one action; each field is defined by the function of the same name."""

    page_kind: PageKind
    dwell_ms: int | None
    hesitation_count: int
    hesitation_ms: int
    products_viewed: int
    adds_to_cart: bool
    backtracks: int
    on_revisited_page: bool
    scroll_depth_pct: float | None
    price_checks: int
    price_check_ms: int
    cart_views: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def step_insights(events: Sequence[JourneyEvent], index: int) -> StepInsights:
    """Every per-step insight of the action at `events[index]`."""
    page = _current_page_index(events, index)
    hesitated = hesitation(events, index)
    back = backtracking(events, index)
    prices = price_checks(events, index)
    return StepInsights(
        page_kind=_page_kind(events[page]) if page >= 0 else page_kind(events[index].url),
        dwell_ms=dwell_before_ms(events, index),
        hesitation_count=hesitated.count,
        hesitation_ms=hesitated.ms,
        products_viewed=products_compared(events, index),
        adds_to_cart=adds_to_cart(events[index]),
        backtracks=back.count,
        on_revisited_page=back.on_revisited_page,
        scroll_depth_pct=scroll_depth_before(events, index),
        price_checks=prices.count,
        price_check_ms=prices.ms,
        cart_views=prices.cart_views,
    )


@dataclass(frozen=True)
class SessionInsights:
    """The whole session in a few numbers: stored on the training step, and the source of its goal."""

    actions: int
    pages: int
    products_viewed: int
    product_titles: tuple[str, ...]
    added_titles: tuple[str, ...]
    adds_to_cart: int
    backtracks: int
    hesitation_count: int
    hesitation_ms: int
    max_scroll_depth_pct: float | None
    price_checks: int
    price_check_ms: int
    cart_views: int
    median_dwell_ms: int | None
    reached_checkout: bool
    reached_confirmation: bool
    unfinished_forms: int
    abandoned: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def session_insights(events: Sequence[JourneyEvent]) -> SessionInsights:
    """Summary of a session: totals of the per-step insights, the product pages seen and the
    titles of those an item was added to the cart from, and its abandonment."""
    product_titles: dict[str, str] = {}
    added: list[str] = []
    title = ""
    dwell: list[int] = []
    hesitations = Hesitation(0, 0)
    action_count = pages = 0
    for index, event in enumerate(events):
        if event.type == PAGE_TYPE:
            pages += 1
            title = str(event.payload.get("title") or "")
            if _page_kind(event) == "product":
                product_titles.setdefault(page_key(event.url), title)
        elif is_action(event):
            action_count += 1
            if (ms := dwell_before_ms(events, index)) is not None:
                dwell.append(ms)
            step = hesitation(events, index)
            hesitations = Hesitation(hesitations.count + step.count, hesitations.ms + step.ms)
            if adds_to_cart(event):
                added.append(title if title and _page_is_product(events, index) else "")
    end = len(events)
    prices = price_checks(events, end)
    depths = [d for e in events if e.type == SCROLL_TYPE and (d := scroll_depth_pct(e)) is not None]
    left = abandonment(events)
    dwell.sort()
    return SessionInsights(
        actions=action_count,
        pages=pages,
        products_viewed=len(product_titles),
        product_titles=tuple(t for t in product_titles.values() if t),
        added_titles=tuple(added),
        adds_to_cart=len(added),
        backtracks=backtracking(events, end).count,
        hesitation_count=hesitations.count,
        hesitation_ms=hesitations.ms,
        max_scroll_depth_pct=max(depths) if depths else None,
        price_checks=prices.count,
        price_check_ms=prices.ms,
        cart_views=prices.cart_views,
        median_dwell_ms=dwell[len(dwell) // 2] if dwell else None,
        reached_checkout=left.reached_checkout,
        reached_confirmation=left.reached_confirmation,
        unfinished_forms=left.unfinished_forms,
        abandoned=left.abandoned,
    )


def _page_is_product(events: Sequence[JourneyEvent], index: int) -> bool:
    page = _current_page_index(events, index)
    return page >= 0 and _page_kind(events[page]) == "product"


def is_user_navigation(events: Sequence[JourneyEvent], index: int) -> bool:
    """A navigation the shopper made themselves (address bar, back/forward button), not the effect
    of a click: a navigation event to another page (not a hash change) after the session's first
    page, with no action in the NAVIGATION_CAUSE_WINDOW_MS before it, or one the capture marks
    as back, forward or typed."""
    event = events[index]
    if event.type != NAVIGATION_TYPE or event.payload.get("kind") == "hash":
        return False
    page = _current_page_index(events, index)
    if page < 0 or page_key(events[page].url) == page_key(event.url):
        return False
    if event.payload.get("kind") in EXPLICIT_NAVIGATION_KINDS:
        return True
    for earlier in reversed(events[:index]):
        if event.t_ms - earlier.t_ms > NAVIGATION_CAUSE_WINDOW_MS:
            break
        if is_action(earlier):
            return False
    return True


def action_indexes(events: Sequence[JourneyEvent]) -> list[int]:
    """Positions of the actions in `events`, in order."""
    return [i for i, event in enumerate(events) if is_action(event)]


__all__ = [
    "Abandonment",
    "Backtracking",
    "Hesitation",
    "PriceChecks",
    "SessionInsights",
    "StepInsights",
    "abandonment",
    "action_indexes",
    "adds_to_cart",
    "backtracking",
    "dwell_before_ms",
    "hesitation",
    "is_user_navigation",
    "price_checks",
    "products_compared",
    "scroll_depth_before",
    "session_insights",
    "step_insights",
]
