"""The selector benchmark's figures: plain functions over replay outcomes, no browser.

A *method* is a way to find a recorded element again: our generator (its ranked candidates,
then `resolve`'s fingerprint fallback) or a baseline (one selector from another tool). A
*cell* is one target under one condition. Only judged cells count: the target is rendered on
the page (`present`), or it was removed on purpose in the version loaded (`removed`). Cells
where ground truth says the page state lacks the target (`unreproduced`: a dialog that only
an earlier click opens, a nav hidden on phones) or where there is no ground truth (`unknown`)
are left out of every rate. With J the judged cells, P the present ones, R the removed ones:

- `top1` (the pick): ours is what `resolve(record)` returns, i.e. the first candidate in rank
  order that matches exactly one rendered element (weak kinds must also resemble the
  fingerprint), else the fingerprint's relocation, else nothing. A baseline's pick is the
  element its selector matches when it matches exactly one, else nothing (Playwright's strict
  mode refuses ambiguous locators the same way).
- A pick is *correct* on P when it is the target, and on R when there is none (abstention);
  *wrong* when it is another element on P, or any element on R. No pick on P is a miss:
  neither correct nor wrong.
- `top1_correct_rate` = correct picks / |J|;  `top1_wrong_rate` = wrong picks / |J|.
- `any_survives_rate` = share of P where at least one of the method's locators still finds
  the target on its own: a candidate matching exactly the target, or (ours) the fingerprint
  alone relocating it.
- `per_kind[k]`: the method's best-ranked candidate of kind k stands alone for every cell of J
  (a target with no candidate of that kind fails it). `unique_rate` = share of J where it
  matches exactly one element; `correct_rate` = share of J where it is right (P: exactly the
  target; R: nothing); `available_rate` = share of J whose target has a candidate of kind k.
- `best_single_kind` = the kind with the highest `correct_rate` (ties: name order);
  `best_single_correct_rate` = that rate.
- `break_reduction_vs_best_single` = 1 - (1 - top1_correct_rate) / (1 - best_single_correct_rate):
  the share of the best single kind's failures that the ranked list plus fingerprint avoids
  (Leotta et al., ICST 2015, report about 0.3 for multi-locators). None when the best single
  kind never fails. A baseline has one kind, so its value is 0 by construction.
- `removed_target_abstain_rate` = share of R where the method picks nothing.
- `rank_rule_top1_correct_rate` (ours, extra): the same as top1 but with the bare rule "first
  candidate matching exactly one element, else the fingerprint", without resolve's checks.
- `replay_seconds` = wall clock of the replay pass: every page state built in a fresh context
  with the generator injected, every candidate (ours and the in-page baselines) evaluated in
  one round trip; `bare_navigation_seconds` = wall clock of a pass over the same page states,
  at the same concurrency, built with no generator and no evaluate; `overhead_ratio` =
  replay_seconds / bare_navigation_seconds. Playwright-locator baselines are evaluated through
  Playwright after the round trip, outside the concurrency slots the passes are timed by.
  To make the two comparable (lab.replay.engine): an untimed warm-up first builds one page
  state per distinct page loaded (live URL, next-version URL, stored DOM's page), so the site
  server's template compiles and the browser's first contexts are paid by neither pass; then
  the page states go in rounds of a few per concurrency slot, each round timed bare and with
  selector work, the order alternating round by round, so caches warmed by the first pass of a
  round and a shared machine's drifting load fall on both passes alike. Each figure is the
  sum of its rounds' wall clocks.

Rates are None when their denominator is empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lab.selectors.outcomes import CandidateOutcome, Pick, TargetOutcome, TargetState

Verdict = Literal["correct", "wrong", "miss"]
JUDGED: frozenset[TargetState] = frozenset({"present", "removed"})
OURS = "codesight"

# The targets (issue 4, "Targets"): figure -> (comparison, bound).
TARGETS: dict[str, tuple[str, float]] = {
    "top1_correct_rate": (">=", 0.99),
    "top1_wrong_rate": ("<=", 0.005),
    "any_survives_rate": (">=", 0.995),
    "break_reduction_vs_best_single": (">=", 0.30),
    "removed_target_abstain_rate": (">=", 0.90),
    "overhead_ratio": ("<=", 1.5),
}
# Figures where more is better (the rest: less is better), for "better than every baseline".
HIGHER_IS_BETTER = frozenset(
    {"top1_correct_rate", "any_survives_rate", "break_reduction_vs_best_single", "removed_target_abstain_rate"}
)


@dataclass(frozen=True)
class MethodCell:
    """How one method did on one judged target under one condition."""

    click_id: str
    condition_id: str
    target: TargetState
    candidates: tuple[CandidateOutcome, ...]  # in rank order
    pick: Pick
    fallback_found: bool = False  # the fingerprint alone relocates the target (ours only)
    rank_rule_correct: bool | None = None  # ours only: the bare rank rule's verdict


def _rank_rule(outcome: TargetOutcome) -> bool:
    for c in sorted(outcome.candidates, key=lambda c: c.candidate_index):
        if c.matched_count == 1:
            return c.correct
    return outcome.fingerprint_correct is True


def our_cells(outcomes: Iterable[TargetOutcome]) -> list[MethodCell]:
    """Our generator's judged cells."""
    return [
        MethodCell(
            o.click_id,
            o.condition_id,
            o.target,
            tuple(sorted(o.candidates, key=lambda c: c.candidate_index)),
            o.pick,
            fallback_found=o.target == "present" and o.fingerprint_correct is True,
            rank_rule_correct=_rank_rule(o),
        )
        for o in outcomes
        if o.target in JUDGED
    ]


def baseline_pick(outcome: CandidateOutcome) -> Pick:
    """A single selector's pick: the one element it matches, else nothing."""
    if outcome.matched_count != 1:
        return "none"
    return "target" if outcome.correct else "other"


def baseline_names(outcomes: Iterable[TargetOutcome]) -> list[str]:
    """Names of the baselines present in the outcomes, in first-seen order."""
    return list(dict.fromkeys(b.kind for o in outcomes for b in o.baselines))


def baseline_cells(outcomes: Iterable[TargetOutcome], name: str) -> list[MethodCell]:
    """Judged cells of the baseline `name`; a target without that baseline's selector is a miss."""
    cells = []
    for o in outcomes:
        if o.target not in JUDGED:
            continue
        found = [b for b in o.baselines if b.kind == name]
        pick = baseline_pick(found[0]) if found else "none"
        cells.append(MethodCell(o.click_id, o.condition_id, o.target, tuple(found[:1]), pick))
    return cells


def verdict(cell: MethodCell) -> Verdict:
    """Whether the cell's pick is correct, wrong or (present target, no pick) a miss."""
    if cell.target == "removed":
        return "correct" if cell.pick == "none" else "wrong"
    if cell.pick == "target":
        return "correct"
    return "wrong" if cell.pick == "other" else "miss"


def survives(cell: MethodCell) -> bool:
    """A present target that one of the method's locators still finds on its own."""
    return cell.fallback_found or any(c.matched_count == 1 and c.correct for c in cell.candidates)


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def kind_correct(cell: MethodCell, kind: str) -> tuple[bool, bool, bool]:
    """(available, unique, correct) of the cell's best-ranked candidate of `kind`."""
    first = next((c for c in cell.candidates if c.kind == kind), None)
    if first is None:
        return False, False, False
    unique = first.matched_count == 1
    right = first.matched_count == 0 if cell.target == "removed" else unique and first.correct
    return True, unique, right


def per_kind(cells: Sequence[MethodCell]) -> dict[str, dict[str, float | None]]:
    """Each kind standing alone over all judged cells (see the module docstring)."""
    kinds = sorted({c.kind for cell in cells for c in cell.candidates})
    out: dict[str, dict[str, float | None]] = {}
    for kind in kinds:
        results = [kind_correct(cell, kind) for cell in cells]
        out[kind] = {
            "unique_rate": _rate(sum(r[1] for r in results), len(cells)),
            "correct_rate": _rate(sum(r[2] for r in results), len(cells)),
            "available_rate": _rate(sum(r[0] for r in results), len(cells)),
        }
    return out


def break_reduction(top1_correct: float | None, best_single: float | None) -> float | None:
    """1 - top-1 failure rate / best single kind's failure rate; None when that kind never fails."""
    if top1_correct is None or best_single is None or best_single >= 1.0:
        return None
    return 1.0 - (1.0 - top1_correct) / (1.0 - best_single)


def method_figures(cells: Sequence[MethodCell]) -> dict[str, Any]:
    """The headline figures of one method over its judged cells."""
    verdicts = [verdict(c) for c in cells]
    present = [c for c in cells if c.target == "present"]
    removed = [c for c in cells if c.target == "removed"]
    kinds = per_kind(cells)
    ranked = sorted(kinds.items(), key=lambda kv: (-(kv[1]["correct_rate"] or 0.0), kv[0]))
    best_kind, best_rate = (ranked[0][0], ranked[0][1]["correct_rate"]) if ranked else (None, None)
    top1 = _rate(verdicts.count("correct"), len(cells))
    return {
        "top1_correct_rate": top1,
        "top1_wrong_rate": _rate(verdicts.count("wrong"), len(cells)),
        "any_survives_rate": _rate(sum(survives(c) for c in present), len(present)),
        "best_single_kind": best_kind,
        "best_single_correct_rate": best_rate,
        "break_reduction_vs_best_single": break_reduction(top1, best_rate),
        "removed_target_abstain_rate": _rate(sum(c.pick == "none" for c in removed), len(removed)),
        "per_kind": kinds,
    }


def overhead_ratio(replay_seconds: float, bare_navigation_seconds: float | None) -> float | None:
    """replay_seconds / bare_navigation_seconds; None without a bare measurement."""
    if not bare_navigation_seconds:
        return None
    return replay_seconds / bare_navigation_seconds


def _summary(cells: Sequence[MethodCell]) -> dict[str, Any]:
    figures = method_figures(cells)
    return {
        "cells": len(cells),
        **{k: figures[k] for k in ("top1_correct_rate", "top1_wrong_rate", "any_survives_rate")},
        "removed_target_abstain_rate": figures["removed_target_abstain_rate"],
    }


def _breakdown(
    outcomes: Sequence[TargetOutcome], key_of: Mapping[tuple[str, str], str], names: Sequence[str]
) -> dict[str, Any]:
    """Short figures of ours and each baseline's top-1 rate, per value of `key_of[(click, condition)]`."""
    groups: dict[str, list[TargetOutcome]] = {}
    for o in outcomes:
        groups.setdefault(key_of[(o.click_id, o.condition_id)], []).append(o)
    return {
        key: {
            **_summary(our_cells(group)),
            "baselines": {name: method_figures(baseline_cells(group, name))["top1_correct_rate"] for name in names},
        }
        for key, group in groups.items()
    }


def benchmark_figures(
    outcomes: Sequence[TargetOutcome],
    *,
    conditions: Sequence[str],
    clicks: int,
    site_of: Mapping[str, str],
    replay_seconds: float,
    bare_navigation_seconds: float | None,
) -> dict[str, Any]:
    """The benchmark report: the issue's required keys, then `per_site` and `per_condition`."""
    ours = our_cells(outcomes)
    figures = method_figures(ours)
    names = baseline_names(outcomes)
    rank_rule = [c.rank_rule_correct for c in ours]
    report: dict[str, Any] = {
        "clicks": clicks,
        "conditions": list(conditions),
        "per_kind": figures["per_kind"],
        **{k: v for k, v in figures.items() if k != "per_kind"},
        "baselines": {name: method_figures(baseline_cells(outcomes, name)) for name in names},
        "replay_seconds": replay_seconds,
        "bare_navigation_seconds": bare_navigation_seconds,
        "overhead_ratio": overhead_ratio(replay_seconds, bare_navigation_seconds),
    }
    report["rank_rule_top1_correct_rate"] = _rate(sum(bool(v) for v in rank_rule), len(rank_rule))
    report["per_site"] = _breakdown(
        outcomes, {(o.click_id, o.condition_id): site_of[o.click_id] for o in outcomes}, names
    )
    report["per_condition"] = _breakdown(
        outcomes, {(o.click_id, o.condition_id): o.condition_id for o in outcomes}, names
    )
    return report


def meets_target(figure: str, value: float | None) -> bool:
    """Whether `value` meets the issue's target for `figure` (False when it is None)."""
    comparison, bound = TARGETS[figure]
    if value is None:
        return False
    return value >= bound if comparison == ">=" else value <= bound


def beats(figure: str, ours: float | None, theirs: float | None) -> bool:
    """Whether our value of `figure` is better than a baseline's: strictly, or equal at the best
    value the figure can take (both abstain on every removed target). A None loses."""
    if ours is None:
        return False
    if theirs is None:
        return True
    if figure in HIGHER_IS_BETTER:
        return ours > theirs or ours == theirs == 1.0
    return ours < theirs or ours == theirs == 0.0
