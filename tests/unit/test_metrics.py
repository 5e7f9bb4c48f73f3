"""The metric helpers: bounded labels, batch outcomes, replay's conditions split into viewport and state."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from lab.capture.wire import BatchAck, EventError
from lab.monitoring.metrics import batch_outcome, count_replay_conditions, event_type_label, timed_training_task


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_event_type_label_keeps_only_wire_types() -> None:
    assert event_type_label({"type": "click"}) == "click"
    assert event_type_label({"type": "drop table"}) == "unknown"
    assert event_type_label({"type": 7}) == "unknown"
    assert event_type_label("not an event") == "unknown"


def test_batch_outcome_says_whether_anything_was_kept() -> None:
    error = EventError(index=0, seq=0, field="events[0]", message="bad")
    assert batch_outcome(BatchAck(ack_seq=1, accepted=[1], duplicates=[], errors=[])) == "stored"
    assert batch_outcome(BatchAck(ack_seq=1, accepted=[], duplicates=[1], errors=[error])) == "partial"
    assert batch_outcome(BatchAck(ack_seq=None, accepted=[], duplicates=[], errors=[error])) == "rejected"


def test_replay_conditions_are_counted_by_viewport_and_state() -> None:
    evaluated = sample("codesight_replay_page_states_total", viewport="mobile", state="fresh", outcome="evaluated")
    skipped = sample("codesight_replay_page_states_total", viewport="desktop", state="snapshot", outcome="skipped")
    wrong = sample("codesight_replay_verdicts_total", viewport="mobile", state="fresh", outcome="wrong")

    count_replay_conditions(["mobile/fresh", "mobile/fresh"], ["desktop/snapshot"], [("mobile/fresh", "wrong")])

    labels = {"viewport": "mobile", "state": "fresh"}
    assert sample("codesight_replay_page_states_total", **labels, outcome="evaluated") == evaluated + 2
    assert (
        sample("codesight_replay_page_states_total", viewport="desktop", state="snapshot", outcome="skipped")
        == skipped + 1
    )
    assert sample("codesight_replay_verdicts_total", **labels, outcome="wrong") == wrong + 1


def test_a_training_task_attempt_is_timed_done_or_failed() -> None:
    done = sample("codesight_training_task_seconds_count", task="follow", outcome="done")
    failed = sample("codesight_training_task_seconds_count", task="follow", outcome="failed")
    with timed_training_task("follow"):
        pass
    with pytest.raises(RuntimeError), timed_training_task("follow"):
        raise RuntimeError("the provider said no")
    assert sample("codesight_training_task_seconds_count", task="follow", outcome="done") == done + 1
    assert sample("codesight_training_task_seconds_count", task="follow", outcome="failed") == failed + 1
