"""Pure parts of selector analytics: which grouping set a SQL row belongs to, the time window, the rates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lab.selectors.analytics import DIMENSIONS, GROUPINGS, Reliability, Top1, _grouping_of, _window


def mask(*grouped_by: str) -> int:
    """GROUPING()'s bit mask for a row grouped by `grouped_by`: a set bit is a dimension not grouped by."""
    return sum(1 << (len(DIMENSIONS) - 1 - i) for i, d in enumerate(DIMENSIONS) if d not in grouped_by)


@pytest.mark.parametrize("name", list(GROUPINGS))
def test_each_grouping_set_is_recognised_from_its_mask(name: str) -> None:
    assert _grouping_of(mask(*GROUPINGS[name]), DIMENSIONS, GROUPINGS) == name


def test_the_window_ends_now_and_refuses_days_out_of_range() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    since, until = _window(7, now)
    assert until == now and since == datetime(2026, 11, 19, 12, tzinfo=UTC)
    for days in (0, 367):
        with pytest.raises(ValueError, match="days"):
            _window(days, now)


def test_rates_are_none_without_results() -> None:
    assert Reliability().reliability is None and Top1().rate is None
    assert Reliability(results=4, unique=3, correct=2).model_dump() == {
        "results": 4,
        "unique": 3,
        "correct": 2,
        "unique_rate": 0.75,
        "reliability": 0.5,
    }
