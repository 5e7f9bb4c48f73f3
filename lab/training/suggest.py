"""What data to collect next when a model falls short: the weak (page type, action) cells of a
site's evaluation, and roughly how many more sessions would lift each one to the target.

Pure: the evaluation breakdown and the dataset's counts in, plain suggestions out.

How many more: we assume a cell's error falls like 1/sqrt(examples), the classic rate of
estimation error. It is a rough guide, not a fitted learning curve (those are usually flatter,
https://arxiv.org/abs/1712.00409), so the figure is rounded and capped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lab.training.evaluate import Metrics

# Our bar: a step succeeds this often before we call a site or a cell good enough.
TARGET_STEP_SUCCESS = 0.8
# Never suggest fewer than this many sessions: fewer barely moves a fine-tune.
MIN_MORE_SESSIONS = 5
# Nor more than this: past it, the assumption above says little.
MAX_MORE_SESSIONS = 500
# Suggestions are rounded up to a multiple of this, since they are estimates.
ROUND_TO_SESSIONS = 5
# Cells judged on fewer held-out steps than this are flagged as noisy.
MIN_RELIABLE_STEPS = 5
# At most this many suggestions per site: the weakest cells first.
MAX_SUGGESTIONS = 5


@dataclass(frozen=True)
class CellData:
    """What a site's training data holds for one (page type, action) cell."""

    train_examples: int = 0
    train_sessions: int = 0


@dataclass(frozen=True)
class Suggestion:
    site: str
    page_type: str
    action: str | None
    step_success: float
    n_steps: int
    train_examples: int
    more_sessions: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "page_type": self.page_type,
            "action": self.action,
            "step_success": self.step_success,
            "n_steps": self.n_steps,
            "train_examples": self.train_examples,
            "more_sessions": self.more_sessions,
            "message": self.message,
        }


def falls_short(candidate: Metrics, deployed: Metrics | None = None, target: float = TARGET_STEP_SUCCESS) -> bool:
    """A model falls short when its step success is under the target or under the deployed model's."""
    return candidate.step_success < target or (deployed is not None and candidate.step_success < deployed.step_success)


def more_sessions_needed(step_success: float, sessions_now: int, target: float = TARGET_STEP_SUCCESS) -> int:
    """Sessions to add so that, with error ~ 1/sqrt(data), the cell's step success reaches `target`."""
    if step_success >= target:
        return 0
    error_now, error_target = 1.0 - step_success, 1.0 - target
    total = max(1, sessions_now) * (error_now / error_target) ** 2
    more = max(MIN_MORE_SESSIONS, math.ceil(total - sessions_now))
    more = math.ceil(more / ROUND_TO_SESSIONS) * ROUND_TO_SESSIONS
    return min(MAX_MORE_SESSIONS, more)


def _split_cell(name: str) -> tuple[str, str]:
    page_type, _, action = name.rpartition("/")
    return page_type, action


def suggest(
    site: str,
    by_cell: Mapping[str, Metrics],
    data: Mapping[str, CellData],
    target: float = TARGET_STEP_SUCCESS,
    limit: int = MAX_SUGGESTIONS,
) -> list[Suggestion]:
    """The weakest (page type, action) cells of a site under `target`, weakest and best-evidenced first,
    each with how many more sessions through that page type to collect.

    `by_cell` is keyed `page_type/action` (lab.training.evaluate.cell_key), as is `data`."""
    weak = [(name, m) for name, m in by_cell.items() if m.n_steps and m.step_success < target]
    weak.sort(key=lambda item: (item[1].step_success, -item[1].n_steps, item[0]))
    out: list[Suggestion] = []
    for name, m in weak[:limit]:
        page_type, action = _split_cell(name)
        counts = data.get(name, CellData())
        more = more_sessions_needed(m.step_success, counts.train_sessions, target)
        noisy = " (few held-out steps: a rough figure)" if m.n_steps < MIN_RELIABLE_STEPS else ""
        seen = f"{counts.train_examples} training example{'s' if counts.train_examples != 1 else ''}"
        message = (
            f"{site}: {action} actions on {page_type} pages succeed "
            f"{m.step_success:.0%} (n={m.n_steps}; {seen}) — collect ~{more} more {page_type} sessions{noisy}"
        )
        out.append(Suggestion(site, page_type, action, m.step_success, m.n_steps, counts.train_examples, more, message))
    return out


def suggest_for_site(
    site: str, overall: Metrics, train_sessions: int, target: float = TARGET_STEP_SUCCESS
) -> Suggestion:
    """One line for a whole site that falls short (the dashboard's index lists these)."""
    more = more_sessions_needed(overall.step_success, train_sessions, target)
    message = (
        f"{site}: steps succeed {overall.step_success:.0%} (n={overall.n_steps}) against a target of {target:.0%} "
        f"— collect ~{more} more sessions"
    )
    return Suggestion(site, "all", None, overall.step_success, overall.n_steps, 0, more, message)
