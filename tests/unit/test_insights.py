"""Behaviour insights: each written definition checked on hand-made event lists, and robustness
to event types and payloads nobody here knows (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lab.capture.wire import EVENT_TYPES, parse_batch
from lab.insights import describe_goal, describe_step, page_kind, session_insights, step_insights
from lab.insights.behaviour import (
    abandonment,
    backtracking,
    dwell_before_ms,
    hesitation,
    is_user_navigation,
    price_checks,
    products_compared,
    scroll_depth_before,
)
from lab.insights.events import ACTION_TYPES, JourneyEvent, events_from_wire, scroll_depth_pct

SHOP = "http://127.0.0.1:9000/shop/v1"


class Journey:
    """Builds a session's events in order: seq counts up, `t` is given in ms."""

    def __init__(self) -> None:
        self.events: list[JourneyEvent] = []
        self.url = f"{SHOP}/index.html"

    def add(self, type_: str, t: int, url: str | None = None, **payload: Any) -> int:
        self.events.append(JourneyEvent(len(self.events), type_, t, url or self.url, payload))
        return len(self.events) - 1

    def page(self, t: int, path: str, title: str = "") -> int:
        self.url = f"{SHOP}/{path}"
        return self.add("page", t, title=title, structure={"headings": [title] if title else []})

    def click(self, t: int, text: str, tag: str = "button", selector: str | None = None, **target: Any) -> int:
        selectors = {"candidates": [{"kind": "css", "selector": selector or f"#{text}", "score": 1}]}
        return self.add("click", t, target={"tag": tag, "text": text, **target}, selectors=selectors)

    def hover(
        self, t: int, text: str, tag: str = "button", ms: int | None = None, selector: str | None = None, **target: Any
    ) -> int:
        payload: dict[str, Any] = {"target": {"tag": tag, "text": text, **target}}
        payload["selectors"] = {"candidates": [{"kind": "css", "selector": selector or f"#{text}", "score": 1}]}
        if ms is not None:
            payload["duration_ms"] = ms
        return self.add("hover", t, **payload)

    def scroll(self, t: int, depth_pct: float) -> int:
        return self.add("scroll", t, depth_pct=depth_pct)

    def fill(self, t: int, label: str) -> int:
        return self.add("input", t, field={"tag": "input", "label": label}, value="[text]")


# --- dwell ------------------------------------------------------------------------------


def test_dwell_counts_from_the_page_or_the_previous_action_whichever_is_later() -> None:
    j = Journey()
    j.page(1_000, "index.html")
    first = j.click(3_500, "a")
    j.add("screenshot", 3_600)
    second = j.click(4_000, "b")
    j.page(5_000, "cart.html")
    third = j.click(5_200, "c")
    assert [dwell_before_ms(j.events, i) for i in (first, second, third)] == [2_500, 500, 200]


def test_dwell_is_unknown_for_an_action_with_nothing_before_it() -> None:
    j = Journey()
    only = j.click(1_000, "a")
    assert dwell_before_ms(j.events, only) is None


@given(st.lists(st.tuples(st.sampled_from(["page", "click", "input", "hover", "scroll"]), st.integers(0, 10_000))))
def test_dwell_is_never_negative_and_never_longer_than_the_session_so_far(steps: list[tuple[str, int]]) -> None:
    j = Journey()
    t = 0
    for type_, gap in steps:
        t += gap
        j.add(type_, t)
    for i, event in enumerate(j.events):
        if event.type in ("click", "input"):
            dwell = dwell_before_ms(j.events, i)
            assert dwell is None or 0 <= dwell <= event.t_ms - j.events[0].t_ms


# --- hesitation -------------------------------------------------------------------------


def test_hesitation_counts_hovers_over_other_interactive_elements_since_the_last_action() -> None:
    j = Journey()
    j.page(0, "index.html")
    j.hover(100, "early", ms=999)  # before the previous action: not this step's
    j.click(200, "first")
    j.hover(300, "Kettles", tag="a", ms=300)
    j.hover(400, "Toasters", ms=200)
    j.hover(500, "blurb", tag="div", ms=5_000)  # not interactive
    j.hover(600, "Buy", ms=700)  # the element acted on
    j.hover(650, "Help", tag="span", role="button")  # interactive by role, no duration
    j.add("modal", 700, open=True)  # unknown type
    buy = j.click(800, "Buy")
    result = hesitation(j.events, buy)
    assert (result.count, result.ms) == (3, 500)


def test_hover_events_may_name_interactive_roles() -> None:
    j = Journey()
    j.add("dwell", 0, target={"tag": "span", "role": "button", "text": "Help"}, dwell_ms=1_200)
    act = j.click(2_000, "Go")
    result = hesitation(j.events, act)
    assert (result.count, result.ms) == (1, 1_200)


# --- comparisons ------------------------------------------------------------------------


def test_comparisons_count_distinct_product_pages_since_the_last_add_to_cart() -> None:
    j = Journey()
    j.page(0, "index.html")
    j.page(10, "product.html?id=1")
    j.page(20, "product.html?id=2")
    j.page(30, "product.html?id=1#reviews")  # same product
    j.page(40, "category.html?c=kettles")  # a listing, not a product
    j.page(50, "product.html?id=3")
    first_add = j.click(60, "Add to cart")
    j.page(70, "product.html?id=9")
    second_add = j.click(80, "Add to cart \u2013 $49.00")
    assert products_compared(j.events, first_add) == 3
    assert products_compared(j.events, second_add) == 1


# --- backtracking -----------------------------------------------------------------------


def test_backtracking_counts_returns_to_earlier_pages_but_not_reloads() -> None:
    j = Journey()
    j.page(0, "index.html")
    j.page(10, "product.html?id=1")
    j.page(20, "index.html")  # a return
    j.page(30, "index.html")  # a reload
    j.page(40, "cart.html")
    j.add("navigation", 45, kind="back")
    j.page(50, "index.html")  # a return
    act = j.click(60, "x")
    result = backtracking(j.events, act)
    assert (result.count, result.on_revisited_page) == (2, True)


def test_a_first_visit_is_not_a_return() -> None:
    j = Journey()
    j.page(0, "index.html")
    j.page(10, "cart.html")
    act = j.click(20, "x")
    assert backtracking(j.events, act).on_revisited_page is False


# --- scroll depth -----------------------------------------------------------------------


def test_scroll_depth_is_the_deepest_point_on_the_current_page() -> None:
    j = Journey()
    j.page(0, "product.html?id=1")
    j.scroll(10, 30)
    j.scroll(20, 70)
    j.scroll(30, 50)
    on_product = j.click(40, "Add to cart")
    j.page(50, "cart.html")
    on_cart = j.click(60, "Checkout")
    assert scroll_depth_before(j.events, on_product) == 70
    assert scroll_depth_before(j.events, on_cart) == 0


def test_scroll_depth_is_unknown_when_the_capture_records_no_depth() -> None:
    j = Journey()
    j.page(0, "index.html")
    j.add("scroll", 5)  # no depth in any known field
    act = j.click(10, "x")
    assert scroll_depth_before(j.events, act) is None


def test_scroll_depth_reads_percent_fraction_and_offsets() -> None:
    def depth(**payload: Any) -> float | None:
        return scroll_depth_pct(JourneyEvent(0, "scroll", 0, SHOP, payload))

    assert depth(depth_pct=42) == 42
    assert depth(depth=0.5) == 50
    assert depth(percent=180) == 100
    assert depth(y=500, viewport_h=500, page_h=2_000) == 50
    assert depth(depth=True) is None


# --- price checks -----------------------------------------------------------------------


def test_price_checks_are_dwell_on_prices_price_controls_and_cart_views() -> None:
    j = Journey()
    j.page(0, "category.html?c=kettles")
    j.hover(10, "$12.99", tag="span", ms=800)
    j.click(20, "Sort by price", tag="select")
    j.click(30, "Add to cart \u2013 $49.00")  # buying, not checking
    j.page(40, "cart.html")
    j.hover(50, "Total: £61.98", tag="td")
    act = j.click(60, "Checkout")
    result = price_checks(j.events, act)
    assert (result.count, result.ms, result.cart_views) == (3, 800, 1)


# --- abandonment ------------------------------------------------------------------------


def test_a_session_that_places_its_order_is_not_abandoned() -> None:
    j = Journey()
    j.page(0, "checkout.html")
    j.fill(10, "Name")
    j.click(20, "Place order")
    j.page(30, "confirmation.html")
    result = abandonment(j.events)
    assert (result.reached_checkout, result.reached_confirmation, result.unfinished_forms) == (True, True, 0)
    assert not result.abandoned


def test_a_session_that_never_reaches_checkout_is_abandoned() -> None:
    j = Journey()
    j.page(0, "index.html")
    j.page(10, "product.html?id=1")
    j.click(20, "Add to cart")
    assert abandonment(j.events).abandoned


def test_a_form_left_without_submit_or_click_is_unfinished() -> None:
    j = Journey()
    j.page(0, "checkout.html")
    j.fill(10, "Email")
    j.page(20, "index.html")  # left the form
    j.page(30, "checkout.html")
    j.fill(40, "Email")
    j.add("submit", 50)
    j.page(60, "payment.html")
    j.fill(70, "Card")  # session ends here
    result = abandonment(j.events)
    assert result.reached_checkout and result.unfinished_forms == 2 and result.abandoned


# --- navigations the shopper made -------------------------------------------------------


def test_only_navigations_no_action_explains_are_the_shoppers() -> None:
    j = Journey()
    first_load = j.add("navigation", 0, url=f"{SHOP}/index.html", kind="load")
    j.page(10, "index.html")
    j.click(1_000, "Kettles")
    by_click = j.add("navigation", 1_500, url=f"{SHOP}/category.html", kind="load")
    j.page(1_600, "category.html")
    typed = j.add("navigation", 9_000, url=f"{SHOP}/cart.html", kind="load")
    j.page(9_100, "cart.html")
    hashed = j.add("navigation", 20_000, url=f"{SHOP}/cart.html#top", kind="hash")
    j.click(21_000, "x")
    back = j.add("navigation", 21_100, url=f"{SHOP}/index.html", kind="back")
    assert [is_user_navigation(j.events, i) for i in (first_load, by_click, typed, hashed, back)] == [
        False,
        False,
        True,
        False,
        True,
    ]


# --- pages, session, words --------------------------------------------------------------


def test_page_kinds_from_url_title_and_structure() -> None:
    assert page_kind(f"{SHOP}/index.html") == "home"
    assert page_kind(f"{SHOP}/product.html?id=4") == "product"
    assert page_kind("https://a.example/fashion/v1/bag.html") == "cart"
    assert page_kind("https://a.example/checkout/thank-you") == "confirmation"
    assert page_kind("https://a.example/s?q=kettle") == "listing"
    assert page_kind("https://a.example/x", title="Your basket") == "cart"
    assert page_kind("https://a.example/x", structure={"products": [{"name": "a"}]}) == "product"
    assert page_kind("https://a.example/x") == "other"


def full_journey() -> Journey:
    j = Journey()
    j.page(0, "index.html", "Shop")
    j.click(1_000, "Accept cookies")
    j.page(2_000, "product.html?id=1", "Blue kettle")
    j.page(3_000, "product.html?id=2", "Red kettle")
    j.scroll(3_500, 80)
    j.hover(3_600, "£29.00", tag="span", ms=400)
    j.click(4_000, "Add to cart")
    j.page(5_000, "cart.html", "Cart")
    j.click(6_000, "Checkout")
    j.page(7_000, "checkout.html", "Checkout")
    j.fill(8_000, "Email")
    j.click(9_000, "Place order")
    j.page(10_000, "confirmation.html", "Thank you")
    return j


def test_session_summary_and_goal_of_a_completed_purchase() -> None:
    summary = session_insights(full_journey().events)
    assert (summary.actions, summary.pages, summary.products_viewed, summary.adds_to_cart) == (5, 6, 2, 1)
    assert summary.added_titles == ("Red kettle",) and summary.max_scroll_depth_pct == 80
    assert (summary.price_checks, summary.price_check_ms, summary.cart_views) == (1, 400, 1)
    assert not summary.abandoned and summary.median_dwell_ms == 1_000
    assert describe_goal("shop", summary) == (
        'Shop on shop: compare 2 products, then add "Red kettle" to the cart, then check out and place the order.'
    )


def test_goal_of_a_session_that_left_early() -> None:
    j = Journey()
    j.page(0, "index.html")
    j.click(10, "Kettles", tag="a")
    assert describe_goal("shop", session_insights(j.events)) == (
        "Shop on shop: browse the site. The shopper left without reaching checkout."
    )


def test_step_lines_never_name_the_element_acted_on() -> None:
    j = full_journey()
    add = next(i for i, e in enumerate(j.events) if e.type == "click" and "Add" in str(e.payload))
    insights = step_insights(j.events, add)
    assert insights.adds_to_cart and insights.page_kind == "product" and insights.products_viewed == 2
    lines = describe_step(insights)
    assert "scroll depth on this page: 80%" in lines
    assert not any("Add to cart" in line or "this step" in line for line in lines)


# --- robustness -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
wire_events = st.builds(
    lambda type_, t, url, payload: {"type": type_, "t": t, "url": url, **payload},
    st.sampled_from((*EVENT_TYPES, "hover", "zoom", "keys")),
    st.integers(0, 10**13),
    st.sampled_from([f"{SHOP}/index.html", f"{SHOP}/product.html?id=1", f"{SHOP}/cart.html", "about:blank"]),
    st.dictionaries(
        st.sampled_from(
            ["target", "field", "selectors", "duration_ms", "depth", "depth_pct", "title", "kind", "state", "ended_by"]
        ),
        json_values,
        max_size=4,
    ),
)


@given(st.lists(wire_events, max_size=25))
def test_insights_never_fail_on_unknown_types_or_odd_payloads(raw: list[dict[str, Any]]) -> None:
    events = events_from_wire([{**event, "seq": i} for i, event in enumerate(raw)])
    for index in range(len(events)):
        insights = step_insights(events, index)
        assert insights.hesitation_count >= 0 and insights.hesitation_ms >= 0 and insights.backtracks >= 0
        assert insights.scroll_depth_pct is None or 0 <= insights.scroll_depth_pct <= 100
        assert insights.dwell_ms is None or insights.dwell_ms >= 0
        describe_step(insights)
    summary = session_insights(events)
    describe_goal("shop", summary)
    assert summary.actions == sum(e.type in ACTION_TYPES for e in events)


# --- the wire as the extension sends it ---------------------------------------------------


def wire_journey() -> list[JourneyEvent]:
    """A session in the current wire format, validated by the wire schema and stored as ingest stores it."""
    sel = {"candidates": [{"kind": "testid", "selector": '[data-testid="add"]', "score": 1.0}]}
    other = {"candidates": [{"kind": "testid", "selector": '[data-testid="size-guide"]', "score": 1.0}]}
    raw: list[dict[str, Any]] = [
        {"type": "navigation", "t": 0, "url": f"{SHOP}/product.html?id=1", "kind": "load"},
        {"type": "page", "t": 10, "url": f"{SHOP}/product.html?id=1", "title": "Blue kettle"},
        {"type": "scroll", "t": 500, "url": f"{SHOP}/product.html?id=1", "y": 300, "depth_pct": 45.0},
        {
            "type": "scroll",
            "t": 900,
            "url": f"{SHOP}/product.html?id=1",
            "y": 100,
            "depth_pct": 20.0,
            "max_depth_pct": 62.5,
        },
        {
            "type": "dwell",
            "t": 1_000,
            "url": f"{SHOP}/product.html?id=1",
            "target": {"tag": "button", "text": "Size guide"},
            "selectors": other,
            "duration_ms": 1_200,
        },
        {"type": "visibility", "t": 2_000, "url": f"{SHOP}/product.html?id=1", "state": "hidden"},
        {"type": "visibility", "t": 7_000, "url": f"{SHOP}/product.html?id=1", "state": "visible"},
        {
            "type": "modal",
            "t": 7_100,
            "url": f"{SHOP}/product.html?id=1",
            "state": "open",
            "modal_id": 1,
            "kind": "cookie",
        },
        {
            "type": "dwell",
            "t": 7_500,
            "url": f"{SHOP}/product.html?id=1",
            "target": {"tag": "button", "text": "Add to cart"},
            "duration_ms": 400,
            "ended_by": "click",
        },
        {
            "type": "click",
            "t": 8_010,
            "url": f"{SHOP}/product.html?id=1",
            "target": {"tag": "button", "text": "Add to cart"},
            "selectors": sel,
        },
        {"type": "key", "t": 8_500, "url": f"{SHOP}/product.html?id=1", "key": "Escape"},
        {"type": "navigation", "t": 20_000, "url": f"{SHOP}/index.html", "kind": "back_forward"},
        {"type": "page", "t": 20_010, "url": f"{SHOP}/index.html", "title": "Shop"},
    ]
    events, errors = parse_batch({"v": 1, "events": [{**event, "seq": i} for i, event in enumerate(raw)]})
    assert errors == []
    return events_from_wire([event.model_dump(mode="json") for event in events])


def test_insights_read_the_wire_as_the_extension_sends_it() -> None:
    events = wire_journey()
    click = next(i for i, e in enumerate(events) if e.type == "click")
    insights = step_insights(events, click)
    # 8 s since the page, 5 s of them in another tab.
    assert insights.dwell_ms == 8_010 - 10 - 5_000
    # The size guide was rested on and left; the rest on "Add to cart" ended in its click.
    assert (insights.hesitation_count, insights.hesitation_ms) == (1, 1_200)
    assert insights.scroll_depth_pct == 62.5 and insights.adds_to_cart
    back = next(i for i, e in enumerate(events) if e.payload.get("kind") == "back_forward")
    assert is_user_navigation(events, back)
    summary = session_insights(events)
    assert (summary.actions, summary.backtracks, summary.abandoned) == (2, 0, True)
