"""Suggestions of what data to collect when a model falls short."""

from __future__ import annotations

from lab.training.evaluate import Metrics
from lab.training.suggest import (
    MAX_MORE_SESSIONS,
    MIN_MORE_SESSIONS,
    CellData,
    falls_short,
    more_sessions_needed,
    suggest,
    suggest_for_site,
)


def m(step_success: float, n: int = 10) -> Metrics:
    return Metrics(n, 1.0, 1.0, step_success)


def test_weak_cells_come_first_with_an_actionable_message() -> None:
    by_cell = {
        "checkout/fill": m(0.4, 5),
        "product/click": m(0.9),
        "cart/click": m(0.7, 12),
        "home/navigate": m(0.4, 2),
    }
    data = {"checkout/fill": CellData(train_examples=12, train_sessions=3), "cart/click": CellData(30, 10)}

    suggestions = suggest("shop", by_cell, data)

    assert [(s.page_type, s.action) for s in suggestions] == [
        ("checkout", "fill"),
        ("home", "navigate"),
        ("cart", "click"),
    ]
    first = suggestions[0]
    # error 0.6 -> 0.2 under error ~ 1/sqrt(data): 9x the 3 sessions, 24 more, rounded up to 25
    assert first.more_sessions == 25
    assert first.message == (
        "shop: fill actions on checkout pages succeed 40% (n=5; 12 training examples) "
        "— collect ~25 more checkout sessions"
    )
    assert "rough figure" in suggestions[1].message  # judged on 2 steps only
    assert suggestions[1].train_examples == 0
    assert first.to_dict()["page_type"] == "checkout"


def test_nothing_to_suggest_when_every_cell_reaches_the_target() -> None:
    assert suggest("shop", {"checkout/fill": m(0.8), "cart/click": m(1.0)}, {}) == []


def test_suggestions_are_capped() -> None:
    by_cell = {f"page{i}/click": m(0.1 * i) for i in range(8)}
    assert len(suggest("shop", by_cell, {}, limit=3)) == 3


def test_more_sessions_is_bounded_and_rounded() -> None:
    assert more_sessions_needed(0.85, 10) == 0
    assert more_sessions_needed(0.795, 10) == MIN_MORE_SESSIONS
    assert more_sessions_needed(0.79, 100) == 15  # 11 more, rounded up to a multiple of 5
    assert more_sessions_needed(0.0, 200) == MAX_MORE_SESSIONS
    assert more_sessions_needed(0.5, 0) % 5 == 0


def test_falls_short_of_the_target_or_the_deployed_model() -> None:
    assert falls_short(m(0.5))
    assert not falls_short(m(0.9))
    assert falls_short(m(0.85), deployed=m(0.9))
    assert not falls_short(m(0.9), deployed=m(0.9))


def test_a_whole_site_line() -> None:
    line = suggest_for_site("books", m(0.5, 20), train_sessions=4)
    assert line.message.startswith("books: steps succeed 50% (n=20) against a target of 80%")
