"""Session quality: three 0-1 components, one 0-100 score, and feedback a person can act on.

Pure: the DB edge (`lab.pipeline.assemble`) gathers `SessionFacts`; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lab.quality.screenshots import ScreenshotStats

# Weights of the components in the 0-100 score. Completeness weighs most: a session with
# holes cannot be replayed or trained on whatever its selectors look like.
COMPLETENESS_WEIGHT = 0.40
# Reliable selectors are the point of the selector lab: replay shares unique-and-correct.
RELIABILITY_WEIGHT = 0.35
# Screenshots feed the vision examples; blank frames teach nothing.
SCREENSHOTS_WEIGHT = 0.25

# A click needs alternatives of this many different kinds for fallback at replay time.
MIN_SELECTOR_KINDS = 3
# Below this mean reliability the feedback says which way to look.
LOW_RELIABILITY = 0.6


@dataclass(frozen=True)
class ClickFacts:
    seq: int
    selector_kinds: frozenset[str]
    # Best replay reliability among the click's candidates; None when replay judged none.
    best_reliability: float | None = None


@dataclass(frozen=True)
class PageFacts:
    seq: int
    has_screenshot: bool


@dataclass(frozen=True)
class SessionFacts:
    """What quality grading needs to know about one session."""

    event_seqs: Sequence[int]
    pages: Sequence[PageFacts]
    clicks: Sequence[ClickFacts]
    screenshots: Sequence[ScreenshotStats]
    ended: bool


@dataclass(frozen=True)
class QualityComponent:
    name: str
    weight: float
    # None when there was nothing to judge (no clicks replayed); the weight is then shared out.
    value: float | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QualityReport:
    score: float
    components: tuple[QualityComponent, ...]
    feedback: tuple[str, ...]

    def component(self, name: str) -> QualityComponent:
        return next(c for c in self.components if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON for `sessions.quality`."""
        return {
            "score": self.score,
            "components": [asdict(c) for c in self.components],
            "feedback": list(self.feedback),
        }


def _fraction(good: int, total: int) -> float:
    return good / total if total else 1.0


def missing_seqs(seqs: Sequence[int]) -> list[int]:
    """Sequence numbers absent between the first and the last received event."""
    if not seqs:
        return []
    present = set(seqs)
    return [s for s in range(min(present), max(present) + 1) if s not in present]


def completeness(facts: SessionFacts) -> tuple[QualityComponent, list[str]]:
    """Mean of four checks: no seq gaps, a screenshot per page, enough selector kinds per click, ended."""
    feedback: list[str] = []
    gaps = missing_seqs(facts.event_seqs)
    span = len(facts.event_seqs) + len(gaps)
    no_gaps = _fraction(len(facts.event_seqs), span) if facts.event_seqs else 0.0
    if not facts.event_seqs:
        feedback.append("The session has no events.")
    elif gaps:
        feedback.append(f"{len(gaps)} of {span} events are missing (sequence gaps, first at seq {gaps[0]}).")

    pages_shot = sum(p.has_screenshot for p in facts.pages)
    pages_ok = _fraction(pages_shot, len(facts.pages)) if facts.pages else 0.0
    if not facts.pages:
        feedback.append("No page was recorded.")
    elif pages_shot < len(facts.pages):
        feedback.append(f"{len(facts.pages) - pages_shot} of {len(facts.pages)} pages had no screenshot.")

    thin = [c for c in facts.clicks if len(c.selector_kinds) < MIN_SELECTOR_KINDS]
    clicks_ok = _fraction(len(facts.clicks) - len(thin), len(facts.clicks))
    if thin:
        feedback.append(
            f"{len(thin)} of {len(facts.clicks)} clicks had fewer than {MIN_SELECTOR_KINDS} selector kinds."
        )

    if not facts.ended:
        feedback.append("The session never ended; it may have been cut off.")

    checks = {
        "no_gaps": no_gaps,
        "pages_with_screenshot": pages_ok,
        "clicks_with_selector_kinds": clicks_ok,
        "ended": float(facts.ended),
    }
    value = sum(checks.values()) / len(checks)
    return QualityComponent("completeness", COMPLETENESS_WEIGHT, value, {**checks, "missing_seqs": gaps[:50]}), feedback


def selector_reliability(facts: SessionFacts) -> tuple[QualityComponent, list[str]]:
    """Mean over clicks of the best candidate's replay reliability."""
    judged = [c.best_reliability for c in facts.clicks if c.best_reliability is not None]
    if not judged:
        note = (
            "No click was replayed, so selector reliability is unknown."
            if facts.clicks
            else "The session has no clicks."
        )
        return QualityComponent("selector_reliability", RELIABILITY_WEIGHT, None, {"clicks_judged": 0}), [note]
    value = sum(judged) / len(judged)
    feedback = []
    if value < LOW_RELIABILITY:
        feedback.append(f"Selectors were unique and correct in only {value:.0%} of replay conditions on average.")
    if len(judged) < len(facts.clicks):
        feedback.append(f"{len(facts.clicks) - len(judged)} of {len(facts.clicks)} clicks have no replay result.")
    return QualityComponent("selector_reliability", RELIABILITY_WEIGHT, value, {"clicks_judged": len(judged)}), feedback


def screenshots_meaningful(facts: SessionFacts) -> tuple[QualityComponent, list[str]]:
    """Share of screenshots that are not blank, uniform or undecodable."""
    total = len(facts.screenshots)
    if not total:
        return QualityComponent("screenshots_meaningful", SCREENSHOTS_WEIGHT, 0.0, {"screenshots": 0}), [
            "The session has no screenshots."
        ]
    good = sum(s.meaningful for s in facts.screenshots)
    broken = sum(not s.decodable for s in facts.screenshots)
    feedback = []
    if good < total - broken:
        feedback.append(f"{total - broken - good} of {total} screenshots looked blank or uniform.")
    if broken:
        feedback.append(f"{broken} of {total} screenshots could not be decoded.")
    return QualityComponent(
        "screenshots_meaningful", SCREENSHOTS_WEIGHT, good / total, {"screenshots": total, "meaningful": good}
    ), feedback


def combine(components: Sequence[QualityComponent]) -> float:
    """Weighted mean of the judged components on 0-100; unjudged ones hand their weight to the rest."""
    judged = [c for c in components if c.value is not None]
    total_weight = sum(c.weight for c in judged)
    if not total_weight:
        return 0.0
    return round(100 * sum(c.weight * (c.value or 0.0) for c in judged) / total_weight, 1)


def grade_session(facts: SessionFacts) -> QualityReport:
    """The session's quality report."""
    parts = [completeness(facts), selector_reliability(facts), screenshots_meaningful(facts)]
    components = tuple(c for c, _ in parts)
    feedback = tuple(line for _, lines in parts for line in lines)
    return QualityReport(score=combine(components), components=components, feedback=feedback)
