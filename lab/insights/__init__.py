"""Behaviour insights per step (dwell, hesitation, comparisons, backtracking, scroll depth,
price checks) and per session (abandonment, the goal), pure over a session's events."""

from lab.insights.behaviour import (
    SessionInsights,
    StepInsights,
    action_indexes,
    session_insights,
    step_insights,
)
from lab.insights.describe import describe_goal, describe_step
from lab.insights.events import JourneyEvent, events_from_wire
from lab.insights.pages import PAGE_KINDS, PageKind, page_kind

__all__ = [
    "PAGE_KINDS",
    "JourneyEvent",
    "PageKind",
    "SessionInsights",
    "StepInsights",
    "action_indexes",
    "describe_goal",
    "describe_step",
    "events_from_wire",
    "page_kind",
    "session_insights",
    "step_insights",
]
