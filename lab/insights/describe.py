"""Insights in words, for training prompts: the session's goal and the behaviour lines of one step.

Nothing here names the element the step acts on, so a prompt never gives its answer away.
"""

from __future__ import annotations

from lab.insights.behaviour import SessionInsights, StepInsights

# More product names make the goal long without making it clearer.
MAX_GOAL_PRODUCTS = 3


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.1f} s"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def describe_goal(site: str, summary: SessionInsights) -> str:
    """What the shopper is doing on `site`, told from the whole journey (a hindsight task description)."""
    parts: list[str] = []
    if summary.products_viewed > 1:
        parts.append(f"compare {summary.products_viewed} products")
    elif summary.products_viewed == 1 and not summary.adds_to_cart:
        parts.append("look at a product")
    if summary.adds_to_cart:
        names = [name for name in summary.added_titles if name][:MAX_GOAL_PRODUCTS]
        if names and len(names) == summary.adds_to_cart:
            parts.append("add " + ", ".join(f'"{name}"' for name in names) + " to the cart")
        else:
            parts.append(f"add {_plural(summary.adds_to_cart, 'item')} to the cart")
    if summary.reached_confirmation:
        parts.append("check out and place the order")
    elif summary.reached_checkout:
        parts.append("go to checkout")
    if not parts:
        parts.append("browse the site")
    goal = f"Shop on {site}: " + ", then ".join(parts) + "."
    if not summary.reached_checkout:
        goal += " The shopper left without reaching checkout."
    elif summary.unfinished_forms:
        goal += f" The shopper left {_plural(summary.unfinished_forms, 'form')} unfinished."
    return goal


def describe_step(insights: StepInsights) -> list[str]:
    """One line per behaviour insight of a step, in the prompt's words."""
    lines = [
        "dwell before acting: " + (_seconds(insights.dwell_ms) if insights.dwell_ms is not None else "unknown"),
    ]
    if insights.hesitation_count:
        lines.append(
            f"hesitation: hovered {_plural(insights.hesitation_count, 'other control')} "
            f"for {_seconds(insights.hesitation_ms)} without clicking"
        )
    else:
        lines.append("hesitation: none")
    lines.append(f"product pages viewed since the last add to cart: {insights.products_viewed}")
    back = f"backtracking: {_plural(insights.backtracks, 'return')} to earlier pages"
    lines.append(back + ("; this page is one" if insights.on_revisited_page else ""))
    depth = insights.scroll_depth_pct
    lines.append("scroll depth on this page: " + (f"{depth:.0f}%" if depth is not None else "not recorded"))
    checks = f"price checks: {insights.price_checks}"
    if insights.price_check_ms:
        checks += f" ({_seconds(insights.price_check_ms)})"
    lines.append(f"{checks}; cart views: {insights.cart_views}")
    return lines
