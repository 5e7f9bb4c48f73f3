"""The selector benchmark's figures over hand-made replay outcomes (no browser)."""

from __future__ import annotations

import pytest

from lab.bench.figures import (
    TARGETS,
    baseline_cells,
    beats,
    benchmark_figures,
    break_reduction,
    meets_target,
    method_figures,
    our_cells,
    overhead_ratio,
    per_kind,
    verdict,
)
from lab.selectors.outcomes import CandidateOutcome, Pick, TargetOutcome, TargetState

REQUIRED_KEYS = {
    "clicks",
    "conditions",
    "per_kind",
    "top1_correct_rate",
    "top1_wrong_rate",
    "any_survives_rate",
    "best_single_kind",
    "best_single_correct_rate",
    "break_reduction_vs_best_single",
    "removed_target_abstain_rate",
    "baselines",
    "replay_seconds",
    "bare_navigation_seconds",
    "overhead_ratio",
}


def cand(kind: str, matched: int, correct: bool, index: int = 0, click: str = "c1") -> CandidateOutcome:
    return CandidateOutcome(click, index, kind, "desktop/fresh", matched, correct)


def cell(
    candidates: list[tuple[str, int, bool]],
    *,
    pick: Pick = "target",
    target: TargetState = "present",
    fingerprint_correct: bool = False,
    click: str = "c1",
    condition: str = "desktop/fresh",
    baselines: list[tuple[str, int, bool]] = (),  # type: ignore[assignment]
) -> TargetOutcome:
    return TargetOutcome(
        click_id=click,
        condition_id=condition,
        page_url="http://site/v1/",
        target=target,
        resolved_correct=pick == "target" if target == "present" else pick == "none",
        fingerprint_correct=fingerprint_correct,
        candidates=tuple(cand(k, m, c, i, click) for i, (k, m, c) in enumerate(candidates)),
        pick=pick,
        baselines=tuple(cand(k, m, c, i, click) for i, (k, m, c) in enumerate(baselines)),
    )


def test_verdicts_on_present_and_removed_targets() -> None:
    [right, other, miss] = our_cells([cell([], pick="target"), cell([], pick="other"), cell([], pick="none")])
    assert (verdict(right), verdict(other), verdict(miss)) == ("correct", "wrong", "miss")
    [abstained, found] = our_cells([cell([], pick="none", target="removed"), cell([], pick="other", target="removed")])
    assert (verdict(abstained), verdict(found)) == ("correct", "wrong")


def test_unreproduced_and_unknown_cells_are_left_out() -> None:
    cells = our_cells([cell([], target="unreproduced"), cell([], target="unknown"), cell([], pick="target")])
    assert len(cells) == 1


def test_top1_rates_count_misses_as_neither_correct_nor_wrong() -> None:
    figures = method_figures(
        our_cells(
            [
                cell([("role", 1, True)]),
                cell([("role", 0, False)], pick="none"),
                cell([("role", 1, False)], pick="other"),
                cell([("role", 1, True)]),
            ]
        )
    )
    assert figures["top1_correct_rate"] == 0.5
    assert figures["top1_wrong_rate"] == 0.25


def test_any_survives_counts_a_unique_correct_candidate_or_the_fingerprint_on_present_targets() -> None:
    outcomes = [
        cell([("css", 0, False), ("text", 1, True)], pick="target"),
        cell([("css", 2, False)], pick="none", fingerprint_correct=True),
        cell([("css", 0, False)], pick="none"),
        cell([("css", 0, False)], pick="none", target="removed"),  # not a present target: not counted
    ]
    assert method_figures(our_cells(outcomes))["any_survives_rate"] == pytest.approx(2 / 3)


def test_per_kind_takes_each_kinds_best_ranked_candidate_and_fails_targets_without_one() -> None:
    outcomes = [
        cell([("role", 1, True), ("css", 1, True), ("role", 1, False)]),
        cell([("css", 2, False)], click="c2"),
        cell([("role", 0, False), ("css", 1, True)], pick="other", target="removed", click="c3"),
    ]
    kinds = per_kind(our_cells(outcomes))
    assert kinds["role"] == {
        "unique_rate": pytest.approx(1 / 3),
        "correct_rate": pytest.approx(2 / 3),
        "available_rate": pytest.approx(2 / 3),
    }
    # css: unique on c1 (right) and c3 (wrong: the target was removed), ambiguous on c2.
    assert kinds["css"] == {
        "unique_rate": pytest.approx(2 / 3),
        "correct_rate": pytest.approx(1 / 3),
        "available_rate": 1.0,
    }


def test_best_single_kind_and_break_reduction() -> None:
    outcomes = [cell([("role", 1, True), ("css", 0, False)], click=f"c{i}") for i in range(6)] + [
        cell([("role", 0, False), ("css", 1, True)], click=f"d{i}") for i in range(4)
    ]
    figures = method_figures(our_cells(outcomes))
    assert figures["best_single_kind"] == "role"
    assert figures["best_single_correct_rate"] == pytest.approx(0.6)
    assert figures["top1_correct_rate"] == 1.0
    assert figures["break_reduction_vs_best_single"] == pytest.approx(1.0)


def test_break_reduction_formula_and_its_undefined_case() -> None:
    assert break_reduction(0.97, 0.90) == pytest.approx(1 - 0.03 / 0.10)
    assert break_reduction(0.80, 0.90) == pytest.approx(-1.0)
    assert break_reduction(1.0, 1.0) is None
    assert break_reduction(None, 0.5) is None


def test_removed_target_abstain_rate() -> None:
    outcomes = [cell([], pick="none", target="removed", click=f"r{i}") for i in range(3)] + [
        cell([], pick="other", target="removed", click="r9"),
        cell([], pick="target"),
    ]
    assert method_figures(our_cells(outcomes))["removed_target_abstain_rate"] == 0.75


def test_rates_without_a_denominator_are_none() -> None:
    figures = method_figures(our_cells([cell([], pick="target")]))
    assert figures["removed_target_abstain_rate"] is None
    assert method_figures([])["top1_correct_rate"] is None


def test_a_baseline_picks_only_what_its_one_selector_matches_uniquely() -> None:
    outcomes = [
        cell([("role", 1, True)], baselines=[("finder", 1, True), ("xpath", 1, False)]),
        cell([("role", 1, True)], click="c2", baselines=[("finder", 2, False), ("xpath", 0, False)]),
        cell([], pick="none", target="removed", click="c3", baselines=[("finder", 0, False), ("xpath", 1, False)]),
    ]
    finder = method_figures(baseline_cells(outcomes, "finder"))
    assert finder["top1_correct_rate"] == pytest.approx(2 / 3)  # right on c1, abstains on the removed c3
    assert finder["top1_wrong_rate"] == 0.0
    assert finder["removed_target_abstain_rate"] == 1.0
    assert finder["best_single_kind"] == "finder"
    assert finder["break_reduction_vs_best_single"] == pytest.approx(0.0)
    xpath = method_figures(baseline_cells(outcomes, "xpath"))
    assert xpath["top1_wrong_rate"] == pytest.approx(2 / 3)
    assert xpath["any_survives_rate"] == 0.0


def test_a_target_without_a_baselines_selector_is_a_miss_for_it() -> None:
    cells = baseline_cells([cell([("role", 1, True)], baselines=[("finder", 1, True)])], "playwright")
    assert [verdict(c) for c in cells] == ["miss"]


def test_overhead_ratio() -> None:
    assert overhead_ratio(12.0, 10.0) == pytest.approx(1.2)
    assert overhead_ratio(12.0, None) is None
    assert overhead_ratio(12.0, 0.0) is None


def test_report_has_the_required_keys_and_breakdowns() -> None:
    outcomes = [
        cell([("role", 1, True)], click="shop/0:a", baselines=[("finder", 1, True)]),
        cell([("role", 1, True)], click="shop/0:a", condition="mobile/fresh", baselines=[("finder", 0, False)]),
        cell([("role", 1, True)], click="grocer/1:b", baselines=[("finder", 1, True)]),
    ]
    report = benchmark_figures(
        outcomes,
        conditions=["desktop/fresh", "mobile/fresh"],
        clicks=2,
        site_of={"shop/0:a": "shop", "grocer/1:b": "grocer"},
        replay_seconds=3.0,
        bare_navigation_seconds=2.0,
    )
    assert set(report) >= REQUIRED_KEYS
    assert set(report) - REQUIRED_KEYS == {"rank_rule_top1_correct_rate", "per_site", "per_condition"}
    assert report["overhead_ratio"] == pytest.approx(1.5)
    assert report["top1_correct_rate"] == 1.0
    assert set(report["baselines"]) == {"finder"}
    assert report["baselines"]["finder"]["top1_correct_rate"] == pytest.approx(2 / 3)
    assert set(report["per_site"]) == {"shop", "grocer"}
    assert report["per_condition"]["mobile/fresh"]["baselines"]["finder"] == 0.0
    assert report["per_condition"]["desktop/fresh"]["cells"] == 2


@pytest.mark.parametrize(
    ("figure", "value", "met"),
    [
        ("top1_correct_rate", 0.99, True),
        ("top1_correct_rate", 0.989, False),
        ("top1_wrong_rate", 0.005, True),
        ("top1_wrong_rate", 0.006, False),
        ("overhead_ratio", 1.6, False),
        ("removed_target_abstain_rate", None, False),
    ],
)
def test_targets(figure: str, value: float | None, met: bool) -> None:
    assert figure in TARGETS
    assert meets_target(figure, value) is met


def test_better_than_a_baseline_depends_on_the_figures_direction() -> None:
    assert beats("top1_correct_rate", 0.9, 0.8)
    assert not beats("top1_correct_rate", 0.8, 0.8)
    assert beats("removed_target_abstain_rate", 1.0, 1.0)  # a tie at the best value is not a loss
    assert not beats("top1_wrong_rate", 0.01, 0.01)
    assert beats("top1_wrong_rate", 0.0, 0.0)
    assert beats("top1_wrong_rate", 0.0, 0.01)
    assert beats("removed_target_abstain_rate", 0.5, None)
    assert not beats("any_survives_rate", None, 0.1)
