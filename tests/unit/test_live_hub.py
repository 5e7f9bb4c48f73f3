"""The live fan-out without a database: filters, drop-oldest queues, closing, and NOTIFY payload mapping."""

from __future__ import annotations

import json
import uuid

from web.live.events import RESYNC, SESSION_EVENTS, SESSION_STATUS, TRAINING_EVENTS, TRAINING_STATUS, live_event
from web.live.hub import SUBSCRIPTION_QUEUE_SIZE, TRAINING, LiveEvent, LiveHub
from web.live.routes import stream

A = uuid.UUID(int=1)
B = uuid.UUID(int=2)


def status_event(session_id: uuid.UUID, n: int = 0) -> LiveEvent:
    return LiveEvent(SESSION_STATUS, session_id, {"type": "session.status", "session_id": str(session_id), "n": n})


def run_event(run_id: uuid.UUID, status: str = "running") -> LiveEvent:
    data = {"type": "training.run", "run_id": str(run_id), "status": status}
    return LiveEvent(TRAINING_STATUS, run_id, data, TRAINING)


async def test_a_session_stream_gets_only_its_session_and_the_list_gets_all() -> None:
    hub = LiveHub()
    with hub.subscribe(A) as one, hub.subscribe(None) as every:
        hub.publish(status_event(B))
        hub.publish(status_event(A))
        assert (await one.next(0.1)) == status_event(A)
        assert (await one.next(0.01)) is None
        assert [await every.next(0.1), await every.next(0.1)] == [status_event(B), status_event(A)]
    assert hub.subscriber_count == 0


async def test_training_streams_get_training_events_only_and_a_run_stream_only_its_run() -> None:
    hub = LiveHub()
    with hub.subscribe(A, TRAINING) as run_a, hub.subscribe(None, TRAINING) as runs, hub.subscribe(None) as sessions:
        hub.publish(run_event(B))
        hub.publish(status_event(A))  # a session with the same id as run A: another topic
        hub.publish(run_event(A, "succeeded"))
        assert (await run_a.next(0.1)) == run_event(A, "succeeded")
        assert (await run_a.next(0.01)) is None
        assert [await runs.next(0.1), await runs.next(0.1)] == [run_event(B), run_event(A, "succeeded")]
        assert (await sessions.next(0.1)) == status_event(A)
        assert (await sessions.next(0.01)) is None


async def test_a_client_that_never_reads_keeps_only_the_newest_events() -> None:
    hub = LiveHub()
    with hub.subscribe(A) as stalled, hub.subscribe(A) as reader:
        for n in range(SUBSCRIPTION_QUEUE_SIZE * 10):
            hub.publish(status_event(A, n))
            assert (await reader.next(0.1)) == status_event(A, n)
        assert stalled.queue.qsize() == SUBSCRIPTION_QUEUE_SIZE
        assert stalled.dropped == SUBSCRIPTION_QUEUE_SIZE * 9
        assert (await stalled.next(0.1)) == status_event(A, SUBSCRIPTION_QUEUE_SIZE * 9)


async def test_broadcast_reaches_session_streams_and_close_ends_them() -> None:
    hub = LiveHub()
    with hub.subscribe(A) as one:
        hub.broadcast(RESYNC)
        assert (await one.next(0.1)) == RESYNC
        hub.close()
        assert one.closed and (await one.next(5)) is None
    with hub.subscribe(None) as late:
        assert late.closed


def test_notify_payloads_become_named_events() -> None:
    step = {"type": "pipeline.step", "session_id": str(A), "step": "replay", "status": "running"}
    assert live_event(json.dumps(step)) == LiveEvent(SESSION_STATUS, A, step)
    batch = {"type": "session.events", "session_id": str(A), "accepted": 3}
    assert live_event(json.dumps(batch)) == LiveEvent(SESSION_EVENTS, A, batch)
    run = {"type": "training.run", "run_id": str(B), "status": "running"}
    assert live_event(json.dumps(run)) == LiveEvent(TRAINING_STATUS, B, run, TRAINING)
    story = {"type": "training.events", "run_id": str(B)}
    assert live_event(json.dumps(story)) == LiveEvent(TRAINING_EVENTS, B, story, TRAINING)
    unrun = {"type": "training.deployment", "run_id": None, "site": "shop"}
    assert live_event(json.dumps(unrun)) == LiveEvent(TRAINING_STATUS, None, unrun, TRAINING)
    archived = {"type": "session.archived", "session_id": str(A)}
    assert live_event(json.dumps(archived)) == LiveEvent("session-archived", A, archived)


def test_unusable_payloads_are_refused() -> None:
    assert live_event("not json") is None
    assert live_event("[1, 2]") is None
    assert live_event('{"session_id": "x"}') is None
    assert live_event('{"type": "session.status", "session_id": "not-a-uuid"}') is None
    assert live_event('{"type": "training.run", "run_id": "r1"}') is None


async def test_a_stream_says_ready_then_keeps_alive_then_sends_named_events() -> None:
    hub = LiveHub()
    messages = stream(hub, A, resumed=False, keepalive_s=0.01)
    ready = await anext(messages)
    assert ready.event == "ready" and ready.id is not None and ready.retry
    keepalive = await anext(messages)
    assert (keepalive.comment, keepalive.data, keepalive.event) == ("keep-alive", None, None)
    hub.publish(status_event(A, 7))
    message = await anext(messages)
    while message.comment is not None:
        message = await anext(messages)
    assert message.event == SESSION_STATUS and json.loads(str(message.data))["n"] == 7
    hub.close()
    assert [m async for m in messages if m.event is not None] == []
    assert hub.subscriber_count == 0


async def test_a_resumed_stream_is_told_to_refetch() -> None:
    messages = stream(LiveHub(), None, resumed=True)
    assert (await anext(messages)).event == "ready"
    resync = await anext(messages)
    assert resync.event == SESSION_STATUS and json.loads(str(resync.data)) == {"type": "live.resync"}
    await messages.aclose()


async def test_a_training_stream_is_told_to_refetch_under_its_own_status_name() -> None:
    hub = LiveHub()
    messages = stream(hub, A, resumed=True, topic=TRAINING)
    assert (await anext(messages)).event == "ready"
    resumed = await anext(messages)
    assert resumed.event == TRAINING_STATUS and json.loads(str(resumed.data)) == {"type": "live.resync"}
    hub.broadcast(RESYNC)  # what the listener sends after reconnecting
    message = await anext(messages)
    while message.comment is not None:
        message = await anext(messages)
    assert message.event == TRAINING_STATUS and json.loads(str(message.data)) == {"type": "live.resync"}
    await messages.aclose()
