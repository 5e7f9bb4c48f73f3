"""Replay: load recorded pages under a matrix of conditions and evaluate every selector candidate."""

from lab.replay import conditions
from lab.replay.conditions import ConditionUnavailable, PageSource, ReplayCondition, default_matrix, full_matrix
from lab.replay.engine import ReplayEngine, ReplayError, ReplayRun, ReplayTarget, launch_browser, replay
from lab.replay.run import ReplaySummary, replay_session

__all__ = [
    "ConditionUnavailable",
    "PageSource",
    "ReplayCondition",
    "ReplayEngine",
    "ReplayError",
    "ReplayRun",
    "ReplaySummary",
    "ReplayTarget",
    "conditions",
    "default_matrix",
    "full_matrix",
    "launch_browser",
    "replay",
    "replay_session",
]
