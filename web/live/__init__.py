"""Live status for the dashboard: one Postgres LISTEN per web process, fanned out to SSE streams."""

from web.live.events import SESSION_EVENTS, SESSION_STATUS, TRAINING_EVENTS, TRAINING_STATUS
from web.live.hub import LiveEvent, LiveHub
from web.live.listener import listening, live_lifespan
from web.live.routes import LiveController, provide_hub

__all__ = [
    "SESSION_EVENTS",
    "SESSION_STATUS",
    "TRAINING_EVENTS",
    "TRAINING_STATUS",
    "LiveController",
    "LiveEvent",
    "LiveHub",
    "listening",
    "live_lifespan",
    "provide_hub",
]
