"""What a NOTIFY payload becomes on the wire to a page: a named SSE event about one session (pure)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from web.live.hub import LiveEvent

# Pages re-fetch a session's status card or the session list on this event.
SESSION_STATUS = "session-status"
# New captured events were stored: counts change, statuses do not.
SESSION_EVENTS = "session-events"

# NOTIFY `type` -> SSE event name. A type not listed keeps its own name, dots as dashes
# (`training.run` -> `training-run`), so a new producer needs no change here to be streamed.
EVENT_NAMES = {
    "session.opened": SESSION_STATUS,
    "session.status": SESSION_STATUS,
    "session.review": SESSION_STATUS,
    "pipeline.init": SESSION_STATUS,
    "pipeline.step": SESSION_STATUS,
    "session.events": SESSION_EVENTS,
}

# Sent to every stream when the LISTEN connection comes back: notifications may have been missed,
# so every page should re-fetch.
RESYNC = LiveEvent(name=SESSION_STATUS, session_id=None, data={"type": "live.resync"})


def live_event(payload: str) -> LiveEvent | None:
    """The event a NOTIFY payload stands for; None for a payload that is not a JSON object with a `type`."""
    try:
        data: Any = json.loads(payload)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    kind: str = data["type"]
    session_id: uuid.UUID | None = None
    raw_id = data.get("session_id")
    if isinstance(raw_id, str):
        try:
            session_id = uuid.UUID(raw_id)
        except ValueError:
            return None
    return LiveEvent(name=EVENT_NAMES.get(kind, kind.replace(".", "-")), session_id=session_id, data=data)
