"""Fan-out of live events to the dashboard's open streams, one bounded queue per client.

`publish` never waits: a client that stops reading only loses its own oldest events.
Every event tells a page to re-fetch current state, so the newest one is what matters
and dropping the oldest loses nothing a page shows; memory stays bounded per client.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# Events a client may have waiting before its oldest is dropped: a page needs only the newest,
# and a pipeline run emits about a dozen per session, so 64 rides out a burst of several sessions.
SUBSCRIPTION_QUEUE_SIZE = 64


# What a stream is about: the capture sessions and their pipeline, or training runs and deployments.
SESSIONS = "sessions"
TRAINING = "training"


@dataclass(frozen=True)
class LiveEvent:
    """One notification as a stream sends it: SSE event name, the session or training run it is
    about (`subject_id`), the payload, and which streams carry it (`topic`)."""

    name: str
    subject_id: uuid.UUID | None
    data: dict[str, Any]
    topic: str = SESSIONS


# Wakes a waiting stream when the hub closes; never sent to a client.
_WAKE = LiveEvent(name="", subject_id=None, data={})


@dataclass(eq=False)
class Subscription:
    """One client's view of the hub: the events of one topic about one subject (a session, a run),
    or about all of them when `subject_id` is None; with `site`, only events naming that site."""

    subject_id: uuid.UUID | None
    topic: str = SESSIONS
    site: str | None = None
    queue: asyncio.Queue[LiveEvent] = field(default_factory=lambda: asyncio.Queue(SUBSCRIPTION_QUEUE_SIZE))
    dropped: int = 0
    closed: bool = False

    def wants(self, event: LiveEvent) -> bool:
        return (
            event.topic == self.topic
            and (self.subject_id is None or event.subject_id == self.subject_id)
            and (self.site is None or event.data.get("site") == self.site)
        )

    def offer(self, event: LiveEvent) -> None:
        """Enqueue without waiting; when full, drop the oldest event to make room."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def next(self, timeout_s: float) -> LiveEvent | None:
        """The next event, or None after `timeout_s` without one (time for a keep-alive) or once closed."""
        if self.closed:
            return None
        try:
            event = await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None
        return None if event is _WAKE else event


class LiveHub:
    """Where the process's one LISTEN connection delivers, and each open stream subscribes."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self.closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    @contextmanager
    def subscribe(
        self, subject_id: uuid.UUID | None, topic: str = SESSIONS, site: str | None = None
    ) -> Iterator[Subscription]:
        """A subscription for as long as the block runs (a stream's lifetime)."""
        subscription = Subscription(subject_id, topic, site, closed=self.closed)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            if subscription.dropped:
                subject = str(subject_id) if subject_id else None
                log.info("live.dropped", topic=topic, subject_id=subject, count=subscription.dropped)

    def publish(self, event: LiveEvent) -> None:
        """Hand `event` to every stream of its topic that wants it (all subjects, or its own); never waits."""
        for subscription in self._subscriptions:
            if subscription.wants(event):
                subscription.offer(event)

    def broadcast(self, event: LiveEvent) -> None:
        """Hand `event` to every stream, whatever it filters on."""
        for subscription in self._subscriptions:
            subscription.offer(event)

    def close(self) -> None:
        """End every open stream: the server cannot finish a graceful shutdown while one is open."""
        self.closed = True
        for subscription in self._subscriptions:
            subscription.closed = True
        self.broadcast(_WAKE)
