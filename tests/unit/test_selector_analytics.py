"""Pure parts of selector analytics: which grouping set a SQL row belongs to, the time window, the rates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lab.selectors.analytics import (
    DIMENSIONS,
    GROUPINGS,
    TOP1_DIMENSIONS,
    TOP1_GROUPINGS,
    Reliability,
    Top1,
    _grouping_of,
    _window,
)


def mask(*grouped_by: str, dimensions: tuple[str, ...] = DIMENSIONS) -> int:
    """GROUPING()'s bit mask for a row grouped by `grouped_by`: a set bit is a dimension not grouped by."""
    return sum(1 << (len(dimensions) - 1 - i) for i, d in enumerate(dimensions) if d not in grouped_by)


@pytest.mark.parametrize("name", list(GROUPINGS))
def test_each_grouping_set_is_recognised_from_its_mask(name: str) -> None:
    assert _grouping_of(mask(*GROUPINGS[name]), DIMENSIONS, GROUPINGS) == name


@pytest.mark.parametrize("name", list(TOP1_GROUPINGS))
def test_each_top1_grouping_set_is_recognised_from_its_mask(name: str) -> None:
    grouped = mask(*TOP1_GROUPINGS[name], dimensions=TOP1_DIMENSIONS)
    assert _grouping_of(grouped, TOP1_DIMENSIONS, TOP1_GROUPINGS) == name


def test_the_window_ends_now_and_refuses_days_out_of_range() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    since, until = _window(7, now)
    assert until == now and since == datetime(2026, 11, 19, 12, tzinfo=UTC)
    for days in (0, 367):
        with pytest.raises(ValueError, match="days"):
            _window(days, now)


def test_rates_are_none_without_results() -> None:
    assert Reliability().reliability is None and Top1().rate is None and Top1().wrong_rate is None
    assert Reliability(unjudged=5).reliability is None  # unjudged results are outside the rates
    assert Reliability(results=4, unique=3, correct=2, unjudged=7).model_dump() == {
        "results": 4,
        "unique": 3,
        "correct": 2,
        "unjudged": 7,
        "unique_rate": 0.75,
        "reliability": 0.5,
    }
    top1 = Top1(pairs=8, correct=6, wrong=1, abstained=1, fingerprint=2, unjudged=3)
    assert (top1.rate, top1.wrong_rate) == (0.75, 0.125)
