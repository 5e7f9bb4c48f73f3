"""Selector candidates: replay outcomes as plain data and the reliability scoring over them."""

from lab.selectors.outcomes import Candidate, CandidateOutcome, TargetOutcome, TargetState
from lab.selectors.reliability import (
    RELIABLE_AT,
    KindReliability,
    candidate_reliability,
    kind_reliability,
    reliability,
    top1_correct,
    top1_rate,
)

__all__ = [
    "RELIABLE_AT",
    "Candidate",
    "CandidateOutcome",
    "KindReliability",
    "TargetOutcome",
    "TargetState",
    "candidate_reliability",
    "kind_reliability",
    "reliability",
    "top1_correct",
    "top1_rate",
]
