"""The per-session pipeline the workers run: replay, quality, training, archive."""

from lab.pipeline.run import next_step, run_step
from lab.pipeline.status import (
    STEPS,
    PipelineSummary,
    StepState,
    init_steps,
    record_step,
    session_status_summary,
)

__all__ = [
    "STEPS",
    "PipelineSummary",
    "StepState",
    "init_steps",
    "next_step",
    "record_step",
    "run_step",
    "session_status_summary",
]
