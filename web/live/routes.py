"""Server-Sent Event streams of live status for the dashboard pages (htmx's SSE extension listens)."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage

from lab.db.models import User
from web.auth import reader_guard
from web.live.events import RESYNC_DATA, resync
from web.live.hub import SESSIONS, TRAINING, LiveEvent, LiveHub

# A comment this often keeps proxies and browsers from calling an idle stream dead.
KEEPALIVE_S = 15.0
# How long EventSource waits before reconnecting a dropped stream.
RECONNECT_MS = 3000
# The first event of every stream: the subscription exists from here on (tests wait for it).
READY = "ready"

# Event ids only matter for `Last-Event-ID`: a reconnecting browser sends one, and is told to re-fetch.
_event_ids = itertools.count(1)


def provide_hub(state: State) -> LiveHub:
    hub: LiveHub = state.live
    return hub


# How a route handler asks for the hub: `hub: LiveHubDep`.
LiveHubDep = NamedDependency[LiveHub]


async def stream(
    hub: LiveHub,
    subject_id: uuid.UUID | None,
    resumed: bool,
    keepalive_s: float = KEEPALIVE_S,
    topic: str = SESSIONS,
    site: str | None = None,
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """Named events of `topic` about one subject (a session, a training run) or all (of one site, with
    `site`), keep-alive comments in between, until the client or the hub goes."""
    with hub.subscribe(subject_id, topic, site) as subscription:
        yield ServerSentEventMessage(event=READY, data="{}", id=next(_event_ids), retry=RECONNECT_MS)
        if resumed:
            # Reconnected after a drop: whatever happened in between was missed, so re-fetch now.
            yield _message(resync(topic))
        while not subscription.closed:
            event = await subscription.next(keepalive_s)
            if event is None:
                if not subscription.closed:
                    yield ServerSentEventMessage(data=None, comment="keep-alive")
                continue
            # The hub broadcasts one resync to every stream; each names it as its own pages expect.
            yield _message(resync(topic) if event.data == RESYNC_DATA else event)


def _message(event: LiveEvent) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=event.name, data=json.dumps(event.data), id=next(_event_ids))


def _resumed(request: Request[User, Any, Any]) -> bool:
    return "last-event-id" in request.headers


class LiveController(Controller):
    """`/live/...`: text/event-stream for signed-in dashboard users; the pages re-fetch their partials on each event."""

    path = "/live"
    guards = [reader_guard]
    include_in_schema = False

    @get("/sessions")
    async def all_sessions(self, request: Request[User, Any, Any], hub: LiveHubDep) -> ServerSentEvent:
        """`session-status` and `session-events` for every session (the session list)."""
        return ServerSentEvent(stream(hub, None, _resumed(request)))

    @get("/sessions/{session_id:uuid}")
    async def one_session(
        self,
        request: Request[User, Any, Any],
        session_id: FromPath[uuid.UUID],
        hub: LiveHubDep,
    ) -> ServerSentEvent:
        """`session-status` and `session-events` for one session (its page)."""
        return ServerSentEvent(stream(hub, session_id, _resumed(request)))

    @get("/training")
    async def all_training(
        self, request: Request[User, Any, Any], hub: LiveHubDep, site: FromQuery[str | None] = None
    ) -> ServerSentEvent:
        """`training-status` for every run and deployment (the run lists), or with `?site=` those of one
        site (its page: another site's runs do not make it re-fetch)."""
        return ServerSentEvent(stream(hub, None, _resumed(request), topic=TRAINING, site=site or None))

    @get("/training/{run_id:uuid}")
    async def one_run(
        self,
        request: Request[User, Any, Any],
        run_id: FromPath[uuid.UUID],
        hub: LiveHubDep,
    ) -> ServerSentEvent:
        """`training-status` and `training-events` for one training run (its page)."""
        return ServerSentEvent(stream(hub, run_id, _resumed(request), topic=TRAINING))
