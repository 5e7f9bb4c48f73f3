"""Reliability math over hand-made replay outcomes (no browser, no database)."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import pytest

from lab.replay.run import verdict_row
from lab.selectors.outcomes import CandidateOutcome, Pick, TargetOutcome, TargetState, VerdictOutcome
from lab.selectors.reliability import (
    RELIABLE_AT,
    candidate_kinds,
    candidate_reliability,
    condition_score,
    kind_reliability,
    mean_reliability,
    reliability,
    top1_correct,
    top1_rate,
    verdict_outcome,
)

CONDITIONS = ("mobile/fresh", "mobile/reload", "desktop/fresh", "desktop/reload")


def outcome(
    matched_count: int,
    correct: bool,
    *,
    index: int = 0,
    kind: str = "css",
    condition: str = "mobile/fresh",
    click: str = "1",
    target: TargetState = "present",
) -> CandidateOutcome:
    return CandidateOutcome(click, index, kind, condition, matched_count, correct, target)


def target_outcome(
    candidates: list[CandidateOutcome],
    *,
    fingerprint_correct: bool = False,
    target: TargetState = "present",
    condition: str = "mobile/fresh",
    click: str = "1",
) -> TargetOutcome:
    return TargetOutcome(click, condition, "http://site/v1/", target, False, fingerprint_correct, tuple(candidates))


def test_unique_and_correct_scores_one() -> None:
    assert condition_score(outcome(1, True)) == 1.0


@pytest.mark.parametrize("matched_count", [0, 2, 7])
def test_missing_or_ambiguous_scores_zero(matched_count: int) -> None:
    assert condition_score(outcome(matched_count, False)) == 0.0


def test_unique_match_on_another_element_scores_zero() -> None:
    assert condition_score(outcome(1, False)) == 0.0


def test_finding_nothing_is_right_when_target_was_removed() -> None:
    assert condition_score(outcome(0, False, target="removed")) == 1.0
    assert condition_score(outcome(1, False, target="removed")) == 0.0


def test_unreproduced_target_is_not_judged() -> None:
    assert condition_score(outcome(0, False, target="unreproduced")) is None
    assert reliability([outcome(0, False, target="unreproduced")]) is None


def test_unconfirmed_match_without_ground_truth_is_not_trusted() -> None:
    assert condition_score(outcome(1, False, target="unknown")) == 0.0


def test_reliability_is_share_of_conditions_unique_and_correct() -> None:
    outcomes = [
        outcome(1, True, condition=CONDITIONS[0]),
        outcome(1, True, condition=CONDITIONS[1]),
        outcome(2, False, condition=CONDITIONS[2]),
        outcome(0, False, condition=CONDITIONS[3]),
    ]
    assert reliability(outcomes) == 0.5


def test_reliability_ignores_unjudged_conditions() -> None:
    outcomes = [outcome(1, True), outcome(0, False, condition="mobile/reload", target="unreproduced")]
    assert reliability(outcomes) == 1.0


def test_reliability_of_nothing_is_none() -> None:
    assert reliability([]) is None


def test_candidate_reliability_keys_by_click_and_rank() -> None:
    targets = [
        target_outcome([outcome(1, True, index=0), outcome(3, False, index=1, kind="text")], condition=c)
        for c in CONDITIONS
    ]
    assert candidate_reliability(targets) == {("1", 0): 1.0, ("1", 1): 0.0}
    assert candidate_kinds(targets) == {("1", 0): "css", ("1", 1): "text"}


def test_kind_reliability_aggregates_per_kind() -> None:
    reliabilities = {("1", 0): 1.0, ("2", 0): 0.5, ("1", 1): 0.0, ("2", 1): None}
    kinds = {("1", 0): "role", ("2", 0): "role", ("1", 1): "css", ("2", 1): "css"}
    per_kind = kind_reliability(reliabilities, kinds)
    assert list(per_kind) == ["css", "role"]
    assert per_kind["role"].mean == 0.75
    assert per_kind["role"].candidates == 2
    assert per_kind["role"].reliable_share == 0.5
    assert per_kind["css"].candidates == 1  # the unjudged one is left out


def test_mean_reliability_counts_each_judged_candidate_once() -> None:
    assert mean_reliability({("1", 0): 1.0, ("1", 1): 0.0, ("2", 0): None}) == 0.5
    assert mean_reliability({("1", 0): None}) is None


def test_reliable_threshold_is_a_share() -> None:
    assert 0.0 < RELIABLE_AT <= 1.0


def test_top1_takes_first_unique_candidate_in_rank_order() -> None:
    ambiguous_first = target_outcome(
        [outcome(2, False, index=0), outcome(1, True, index=1), outcome(1, False, index=2)]
    )
    assert top1_correct(ambiguous_first) is True
    wrong_first = target_outcome([outcome(1, False, index=1), outcome(1, True, index=0)])
    assert top1_correct(wrong_first) is True  # rank order, not list order
    wrong_unique = target_outcome([outcome(0, False, index=0), outcome(1, False, index=1), outcome(1, True, index=2)])
    assert top1_correct(wrong_unique) is False


def test_top1_falls_back_to_fingerprint_when_no_candidate_is_unique() -> None:
    none_unique = [outcome(0, False, index=0), outcome(4, False, index=1)]
    assert top1_correct(target_outcome(none_unique, fingerprint_correct=True)) is True
    assert top1_correct(target_outcome(none_unique, fingerprint_correct=False)) is False


def test_top1_rate_counts_what_resolve_picked_and_skips_unreproduced_targets() -> None:
    # The rank rule alone would call the first pair right (a unique candidate on the target);
    # the stored pick says resolve's checks rejected it and it abstained: that is a miss.
    targets = [
        replace(target_outcome([outcome(1, True)]), pick="none"),
        replace(target_outcome([outcome(1, True)], condition="tablet/fresh"), pick="target"),
        replace(target_outcome([outcome(1, False)], condition="mobile/reload"), pick="other"),
        replace(target_outcome([outcome(0, False)], condition="desktop/dark"), pick="target", picked_via="fingerprint"),
        replace(
            target_outcome(
                [outcome(0, False, target="unreproduced")], condition="desktop/fresh", target="unreproduced"
            ),
            pick="none",
        ),
    ]
    assert top1_rate(targets) == 2 / 4
    assert top1_rate([]) is None


@pytest.mark.parametrize(
    ("target", "pick", "expected"),
    [
        ("present", "target", "correct"),
        ("present", "other", "wrong"),
        ("present", "none", "abstained"),
        ("removed", "none", "correct"),  # gone on purpose: finding nothing is the right answer
        ("removed", "other", "wrong"),
        ("unreproduced", "none", "target_absent"),
        ("unreproduced", "other", "target_absent"),  # the page state cannot show the target: nothing to judge
        ("unknown", "other", "unknown"),  # no ground truth and the fingerprint finds nothing to compare with
    ],
)
def test_verdict_judges_resolves_pick_against_where_the_target_stood(
    target: TargetState, pick: Pick, expected: VerdictOutcome
) -> None:
    judged = TargetOutcome("1", "mobile/fresh", "http://site/v1/", target, False, None, (), pick=pick)
    assert verdict_outcome(judged) == expected


def test_verdict_row_names_the_picked_candidate_or_the_fingerprint() -> None:
    ids = {("7", 0): 70, ("7", 1): 71}

    def row(via: int | Literal["fingerprint"] | None, pick: Pick) -> dict[str, object]:
        judged = TargetOutcome("7", "desktop/reload", "u", "present", False, None, (), pick=pick, picked_via=via)
        return {k: v for k, v in verdict_row(judged, ids).items() if k != "created_at"}

    assert row(1, "target") == {
        "event_id": 7,
        "condition": "desktop/reload",
        "pick": "candidate",
        "candidate_id": 71,
        "target": "present",
        "outcome": "correct",
    }
    assert (row("fingerprint", "other")["pick"], row("fingerprint", "other")["candidate_id"]) == ("fingerprint", None)
    assert row("fingerprint", "other")["outcome"] == "wrong"
    assert (row(None, "none")["pick"], row(None, "none")["outcome"]) == ("none", "abstained")
