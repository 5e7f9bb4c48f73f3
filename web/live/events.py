"""What a NOTIFY payload becomes on the wire to a page: a named SSE event about one session or one
training run (pure)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from web.live.hub import SESSIONS, TRAINING, LiveEvent

# Pages re-fetch a session's status card or the session list on this event.
SESSION_STATUS = "session-status"
# New captured events were stored: counts change, statuses do not.
SESSION_EVENTS = "session-events"
# A training run's status or columns changed, it was evaluated, or which model serves a site changed:
# run pages, run lists and deployment cards re-fetch.
TRAINING_STATUS = "training-status"
# New rows in a run's event story: only the run's own page shows them.
TRAINING_EVENTS = "training-events"

# NOTIFY `type` -> SSE event name. A type not listed keeps its own name, dots as dashes
# (`session.archived` -> `session-archived`), so a new producer needs no change here to be streamed.
EVENT_NAMES = {
    "session.opened": SESSION_STATUS,
    "session.status": SESSION_STATUS,
    "session.review": SESSION_STATUS,
    "pipeline.init": SESSION_STATUS,
    "pipeline.step": SESSION_STATUS,
    "session.events": SESSION_EVENTS,
    "training.run": TRAINING_STATUS,
    "training.evaluation": TRAINING_STATUS,
    "training.deployment": TRAINING_STATUS,
    "training.events": TRAINING_EVENTS,
}

# Payload types of this prefix go to the training streams, keyed by `run_id`; all others to the session
# streams, keyed by `session_id`.
TRAINING_PREFIX = "training."
# Each topic's re-fetch-everything event: its pages re-fetch on it.
STATUS_EVENT_NAMES = {SESSIONS: SESSION_STATUS, TRAINING: TRAINING_STATUS}
RESYNC_DATA: dict[str, Any] = {"type": "live.resync"}


def resync(topic: str = SESSIONS) -> LiveEvent:
    """Tells a stream of `topic` that notifications may have been missed, named so its pages re-fetch."""
    return LiveEvent(name=STATUS_EVENT_NAMES[topic], subject_id=None, data=RESYNC_DATA, topic=topic)


# Sent to every stream when the LISTEN connection comes back (each stream renames it for its topic
# with `resync`): notifications may have been missed, so every page should re-fetch.
RESYNC = resync(SESSIONS)


def live_event(payload: str) -> LiveEvent | None:
    """The event a NOTIFY payload stands for; None for a payload that is not a JSON object with a
    `type`, or whose subject id is not a UUID."""
    try:
        data: Any = json.loads(payload)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    kind: str = data["type"]
    topic, key = (TRAINING, "run_id") if kind.startswith(TRAINING_PREFIX) else (SESSIONS, "session_id")
    subject_id: uuid.UUID | None = None
    raw_id = data.get(key)
    if isinstance(raw_id, str):
        try:
            subject_id = uuid.UUID(raw_id)
        except ValueError:
            return None
    return LiveEvent(name=EVENT_NAMES.get(kind, kind.replace(".", "-")), subject_id=subject_id, data=data, topic=topic)
