"""Plain data that replay produces and scoring consumes: what a candidate did under one condition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TargetState = Literal["present", "removed", "unreproduced", "unknown"]
"""Where the click target stands in one replayed page state.

present: the reference element is on the page (ground truth, or the fingerprint found it).
removed: the target is gone on purpose (`removed_in`); the right answer is to find nothing.
unreproduced: ground truth says the target is not on the page, or not rendered, although it
    should be: this page state does not rebuild what earlier steps did (an open dialog) or the
    viewport hides it (a desktop-only nav); nothing to judge.
unknown: no ground truth and the fingerprint finds nothing, so no match can be confirmed.
"""
Pick = Literal["target", "other", "none"]
"""What `resolve` returned in one page state: the target, another element, or nothing (abstained)."""
VerdictOutcome = Literal["correct", "wrong", "abstained", "target_absent", "unknown"]
"""Replay's pick judged (lab.selectors.reliability.verdict_outcome; lab.db.models.VERDICT_OUTCOMES)."""


@dataclass(frozen=True)
class Candidate:
    """One selector alternative as the generator emitted it (`{kind, selector, score, ...}`).

    `extra` keeps any further fields the generator attached (such as `unique`), so that
    `resolve` at replay time sees the record exactly as it was captured.
    """

    kind: str
    selector: str
    score: float
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Candidate:
        extra = {k: v for k, v in raw.items() if k not in ("kind", "selector", "score")}
        return cls(str(raw["kind"]), str(raw["selector"]), float(raw["score"]), extra)

    def to_wire(self) -> dict[str, Any]:
        return {**self.extra, "kind": self.kind, "selector": self.selector, "score": self.score}


@dataclass(frozen=True)
class CandidateOutcome:
    """How one candidate of one click fared under one replay condition.

    `correct` means the candidate matched exactly one element and it was the target.
    """

    click_id: str
    candidate_index: int
    kind: str
    condition_id: str
    matched_count: int
    correct: bool
    target: TargetState = "present"
    error: str | None = None  # the selector could not be evaluated (e.g. invalid syntax)


@dataclass(frozen=True)
class TargetOutcome:
    """One click target under one condition: every candidate's outcome plus what `resolve` picked.

    `resolved_correct`: the element `resolve(record)` returned is the target (or it abstained
    when the target is removed). `fingerprint_correct`: the same for the fingerprint alone,
    the fallback replay uses when no candidate is unique; None when it was not computed
    because a candidate already matched the target alone (relocation scans the whole page).
    `pick` says what resolve returned, `picked_via` what gave it: the index of the candidate
    (rank order), "fingerprint" for relocation, or None when it abstained.
    `baselines`: outcomes of other generators' selectors for the same target (benchmarks),
    `kind` naming the generator.
    """

    click_id: str
    condition_id: str
    page_url: str
    target: TargetState
    resolved_correct: bool
    fingerprint_correct: bool | None
    candidates: tuple[CandidateOutcome, ...]
    pick: Pick = "none"
    baselines: tuple[CandidateOutcome, ...] = ()
    picked_via: int | Literal["fingerprint"] | None = None
