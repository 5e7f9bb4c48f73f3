"""Reliability of selector candidates from replay outcomes: one scoring table, small pure functions.

DESIGN.md: a candidate is *unique* when it matches one element, *correct* when that element
is the target; its reliability is the share of conditions in which it is unique and correct.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import fmean

from lab.selectors.outcomes import CandidateOutcome, Pick, TargetOutcome, VerdictOutcome

# One condition's verdict on one candidate. Reliability is their mean, so with these 1/0
# values it is exactly DESIGN.md's "share of conditions in which it is unique and correct".
# Conditions whose page state does not hold the target ("unreproduced") get no verdict.
UNIQUE_CORRECT_SCORE = 1.0  # one match and it is the target: replay clicks the right element
ABSENT_CORRECT_SCORE = 1.0  # target removed on purpose and the candidate finds nothing: the right answer
UNIQUE_WRONG_SCORE = 0.0  # one match but another element: replay would click the wrong thing silently
UNIQUE_UNCONFIRMED_SCORE = 0.0  # one match the fingerprint cannot confirm (no ground truth): not trusted
AMBIGUOUS_SCORE = 0.0  # several matches: replay cannot tell which one was meant
MISSING_SCORE = 0.0  # no match (or an invalid selector) while the target is on the page
FOUND_REMOVED_SCORE = 0.0  # the target is gone on purpose but the candidate still matches something

# Replay's pick where the target is on the page: a wrong element is worse than none (abstained).
PRESENT_TARGET_VERDICTS: Mapping[Pick, VerdictOutcome] = {"target": "correct", "other": "wrong", "none": "abstained"}

# A candidate at or above this reliability is one replay can lean on; the quality step
# flags clicks whose best candidate falls below it.
RELIABLE_AT = 0.9


def condition_score(outcome: CandidateOutcome) -> float | None:
    """The scoring table applied to one candidate under one condition; None when unjudgeable."""
    if outcome.target == "unreproduced":
        return None
    if outcome.target == "removed":
        return ABSENT_CORRECT_SCORE if outcome.matched_count == 0 else FOUND_REMOVED_SCORE
    if outcome.matched_count == 0:
        return MISSING_SCORE
    if outcome.matched_count > 1:
        return AMBIGUOUS_SCORE
    if outcome.correct:
        return UNIQUE_CORRECT_SCORE
    return UNIQUE_UNCONFIRMED_SCORE if outcome.target == "unknown" else UNIQUE_WRONG_SCORE


def reliability(outcomes: Iterable[CandidateOutcome]) -> float | None:
    """Mean condition score of one candidate's outcomes; None when no condition could judge it."""
    scores = [s for s in map(condition_score, outcomes) if s is not None]
    return fmean(scores) if scores else None


CandidateKey = tuple[str, int]
"""(click id, candidate index in rank order): one candidate of one click."""


def candidate_reliability(targets: Iterable[TargetOutcome]) -> dict[CandidateKey, float | None]:
    """Reliability of every candidate in the outcomes, keyed by (click id, index); None if unjudged."""
    by_candidate: dict[CandidateKey, list[CandidateOutcome]] = defaultdict(list)
    for target in targets:
        for outcome in target.candidates:
            by_candidate[(outcome.click_id, outcome.candidate_index)].append(outcome)
    return {key: reliability(outcomes) for key, outcomes in by_candidate.items()}


def candidate_kinds(targets: Iterable[TargetOutcome]) -> dict[CandidateKey, str]:
    """The kind of every candidate that appears in the outcomes."""
    return {(o.click_id, o.candidate_index): o.kind for t in targets for o in t.candidates}


@dataclass(frozen=True)
class KindReliability:
    """How one kind of candidate (role, text, css, ...) fared across a set of clicks."""

    kind: str
    candidates: int
    mean: float
    reliable_share: float  # share of its candidates with reliability >= RELIABLE_AT


def kind_reliability(
    reliabilities: Mapping[CandidateKey, float | None], kinds: Mapping[CandidateKey, str]
) -> dict[str, KindReliability]:
    """Per-kind aggregates of the judged candidates' reliabilities, in alphabetical order of kind."""
    grouped: dict[str, list[float]] = defaultdict(list)
    for key, value in reliabilities.items():
        if value is not None:
            grouped[kinds[key]].append(value)
    return {
        kind: KindReliability(
            kind=kind,
            candidates=len(values),
            mean=fmean(values),
            reliable_share=sum(v >= RELIABLE_AT for v in values) / len(values),
        )
        for kind, values in sorted(grouped.items())
    }


def top1_correct(target: TargetOutcome) -> bool | None:
    """Whether replay's pick is right: the first candidate in rank order that matches exactly
    one element decides; when none does, the fingerprint fallback decides. None if unjudgeable."""
    if target.target == "unreproduced":
        return None
    for outcome in sorted(target.candidates, key=lambda o: o.candidate_index):
        if outcome.matched_count == 1:
            return outcome.correct
    return target.fingerprint_correct


def verdict_outcome(target: TargetOutcome) -> VerdictOutcome:
    """Replay's verdict on one click under one condition, judged as the benchmark judges a pick:
    right is the target, or nothing where it was removed on purpose; no pick of a present target
    is an abstention; a page state without the target, or with nothing to compare, judges nothing."""
    if target.target == "unreproduced":
        return "target_absent"
    if target.target == "unknown":
        return "unknown"
    if target.target == "removed":
        return "correct" if target.pick == "none" else "wrong"
    return PRESENT_TARGET_VERDICTS[target.pick]


def top1_rate(targets: Iterable[TargetOutcome]) -> float | None:
    """Share of judged (click, condition) pairs where replay's stored verdict is right: what
    `resolve` really picked (its checks and the fingerprint included), as the benchmark and the
    analytics page count it. None without any judged pair."""
    judged = [o for o in map(verdict_outcome, targets) if o in ("correct", "wrong", "abstained")]
    return judged.count("correct") / len(judged) if judged else None


def mean_reliability(reliabilities: Mapping[CandidateKey, float | None]) -> float | None:
    """Mean over judged candidates (each counts once); None when there are none."""
    judged = [v for v in reliabilities.values() if v is not None]
    return fmean(judged) if judged else None
