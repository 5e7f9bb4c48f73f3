"""Prometheus metrics of ingest and the pipeline, on prometheus_client's default registry.

Each process records into its own registry. The web process serves it at `/metrics`, with the
queue depth read from Postgres at scrape time (lab.monitoring.queue_depth); `codesight worker
--metrics-port` serves a worker's; `codesight up` runs web and workers in one process, so its
`/metrics` has both. Prometheus sums the processes. README "Monitoring" lists the names.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from lab.capture.wire import EVENT_TYPES, BatchAck

# Seconds to store one batch (one transaction, blobs included); the extension sends a batch every second or so.
BATCH_STORE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds per pipeline step: quality takes well under a second, replay of a long session over the matrix minutes.
STEP_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

EVENT_OUTCOMES = ("stored", "duplicate", "invalid", "refused")
TRANSPORTS = ("rest", "ws")
# stored: every event kept (new or resent); partial: some refused; rejected: none kept; malformed: the body or
# envelope is not a batch; closed: the session takes no more events; failed: ours (storage, database), resend.
BATCH_OUTCOMES = ("stored", "partial", "rejected", "malformed", "closed", "failed")
UNKNOWN_TYPE = "unknown"

INGEST_EVENTS = Counter(
    "codesight_ingest_events",
    "Events received in batches, by wire type and outcome (stored, duplicate, invalid, refused by the database)",
    ["type", "outcome"],
)
INGEST_BATCHES = Counter(
    "codesight_ingest_batches", "Batches received, by transport (rest, ws) and outcome", ["transport", "outcome"]
)
INGEST_BATCH_STORE_SECONDS = Histogram(
    "codesight_ingest_batch_store_seconds",
    "Seconds to validate and store one batch, by transport",
    ["transport"],
    buckets=BATCH_STORE_BUCKETS_S,
)
INGEST_WEBSOCKETS_OPEN = Gauge("codesight_ingest_websockets_open", "Ingest WebSocket connections open now")
INGEST_SCREENSHOT_BYTES = Counter(
    "codesight_ingest_screenshot_bytes", "Bytes of WebP screenshots written to the blob store"
)

PIPELINE_STEP_SECONDS = Histogram(
    "codesight_pipeline_step_seconds",
    "Seconds one pipeline step attempt took, by step",
    ["step"],
    buckets=STEP_BUCKETS_S,
)
PIPELINE_STEPS = Counter(
    "codesight_pipeline_steps", "Pipeline step attempts, by step and outcome (done, failed)", ["step", "outcome"]
)
PIPELINE_STEP_RETRIES = Counter(
    "codesight_pipeline_step_retries", "Step attempts after the first one of a session, by step", ["step"]
)
PIPELINE_SESSIONS = Counter(
    "codesight_pipeline_sessions", "Sessions whose pipeline finished, by final status (done, failed)", ["status"]
)
STALLED_JOBS_RETRIED = Counter(
    "codesight_stalled_jobs_retried",
    "Jobs queued again because their worker stopped sending heartbeats (it died mid-job), by task",
    ["task"],
)
PIPELINE_RESUMES = Counter(
    "codesight_pipeline_resumes", "Stopped pipelines run again from their first unfinished step, by step", ["step"]
)
# Loose session files deleted once their archive is old enough (lab.storage.retention).
WORKING_COPIES_EXPIRED = Counter(
    "codesight_working_copies_expired", "Sessions whose loose screenshots, snapshots and audio were deleted"
)
WORKING_COPY_BYTES_FREED = Counter(
    "codesight_working_copy_bytes_freed", "Bytes of loose session files deleted after their archive was written"
)
WORKING_COPIES_KEPT = Counter(
    "codesight_working_copies_kept",
    "Sessions due for expiry whose loose files were kept: the archive did not open or lacked a file",
)
# Fine-tuning runs' tasks on the `training` queue: start (upload, create the job), follow (one look at
# the job), evaluate (score and maybe deploy). A follow is short; evaluate runs the model on every example.
TRAINING_TASKS = ("start", "follow", "evaluate")
TRAINING_TASK_SECONDS = Histogram(
    "codesight_training_task_seconds",
    "Seconds one fine-tuning task attempt took, by task (start, follow, evaluate) and outcome (done, failed)",
    ["task", "outcome"],
    buckets=STEP_BUCKETS_S,
)
REPLAY_PAGE_STATES = Counter(
    "codesight_replay_page_states",
    "Page states replay built and evaluated (or skipped: the session lacks the state's source), by condition",
    ["viewport", "state", "outcome"],
)
REPLAY_VERDICTS = Counter(
    "codesight_replay_verdicts",
    "Replay's pick per click and condition (correct, wrong, abstained, target_absent, unknown)",
    ["viewport", "state", "outcome"],
)
QUEUE_DEPTH = Gauge(
    "codesight_queue_depth", "Jobs waiting to run (procrastinate status 'todo'), by queue; read at scrape", ["queue"]
)
QUEUE_DEPTH_ERRORS = Counter(
    "codesight_queue_depth_errors", "Scrapes at which the queue depth could not be read from Postgres"
)
# Storage, read from Postgres at scrape time (lab.monitoring.storage_usage): the database's numbers, as queue depth.
STORAGE_BYTES = Gauge(
    "codesight_storage_bytes",
    "Bytes stored, by kind: archives (blob store), screenshots kept loose (blob store), database (Postgres); "
    "read at scrape",
    ["kind"],
)
STORAGE_SESSIONS = Gauge(
    "codesight_storage_sessions", "Sessions in the database, by status; read at scrape", ["status"]
)
STORAGE_MONTHLY_COST = Gauge(
    "codesight_storage_monthly_cost_usd",
    "Estimated monthly bill of the blob store (archives and screenshots) at the configured price per GB-month; "
    "NaN when the figures could not be read",
)
STORAGE_MONTHLY_COST_THRESHOLD = Gauge(
    "codesight_storage_monthly_cost_threshold_usd",
    "Monthly storage cost above which administrators are alerted (CODESIGHT_STORAGE_COST_ALERT_USD)",
)
STORAGE_ERRORS = Counter("codesight_storage_errors", "Scrapes at which the storage figures could not be read")

for _type in (*EVENT_TYPES, UNKNOWN_TYPE):
    for _outcome in EVENT_OUTCOMES:
        INGEST_EVENTS.labels(type=_type, outcome=_outcome)
for _transport in TRANSPORTS:
    INGEST_BATCH_STORE_SECONDS.labels(transport=_transport)
    for _outcome in BATCH_OUTCOMES:
        INGEST_BATCHES.labels(transport=_transport, outcome=_outcome)


def event_type_label(raw: object) -> str:
    """The wire type of a raw event as a label: one of the schema's types, else 'unknown' (labels stay bounded)."""
    value = raw.get("type") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value in EVENT_TYPES else UNKNOWN_TYPE


def count_events(outcome: str, types: Iterable[str]) -> None:
    """Count events of an outcome, one per type given."""
    for event_type in types:
        INGEST_EVENTS.labels(type=event_type, outcome=outcome).inc()


def count_invalid_events(body: object, indexes: Iterable[int]) -> None:
    """Count the events at `indexes` of a raw batch (refused by the wire schema) as invalid, by their claimed type."""
    raw_events: list[Any] = body.get("events", []) if isinstance(body, dict) else []
    count_events("invalid", (event_type_label(raw_events[i]) if i < len(raw_events) else UNKNOWN_TYPE for i in indexes))


def batch_outcome(ack: BatchAck) -> str:
    """How a stored batch went: all kept, some refused, or none kept."""
    if not ack.errors:
        return "stored"
    return "partial" if ack.accepted or ack.duplicates else "rejected"


def count_batch(transport: str, outcome: str) -> None:
    INGEST_BATCHES.labels(transport=transport, outcome=outcome).inc()


def count_step(step: str, outcome: str, seconds: float, attempt: int) -> None:
    """One finished attempt of a pipeline step; an attempt after the first is a retry."""
    PIPELINE_STEP_SECONDS.labels(step=step).observe(seconds)
    PIPELINE_STEPS.labels(step=step, outcome=outcome).inc()
    if attempt > 1:
        PIPELINE_STEP_RETRIES.labels(step=step).inc()


@contextmanager
def timed_training_task(task: str) -> Iterator[None]:
    """Time one attempt of a fine-tuning task; an exception counts it failed and goes on up."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "done"
    finally:
        TRAINING_TASK_SECONDS.labels(task=task, outcome=outcome).observe(time.perf_counter() - started)


def count_replay_conditions(
    evaluated: Iterable[str], skipped: Iterable[str], verdicts: Iterable[tuple[str, str]]
) -> None:
    """Count replay's page states (by condition id, `mobile/fresh`) and its verdicts ((condition id, outcome))."""
    for outcome, condition_ids in (("evaluated", evaluated), ("skipped", skipped)):
        for condition_id in condition_ids:
            viewport, _, state = condition_id.partition("/")
            REPLAY_PAGE_STATES.labels(viewport=viewport, state=state, outcome=outcome).inc()
    for condition_id, verdict in verdicts:
        viewport, _, state = condition_id.partition("/")
        REPLAY_VERDICTS.labels(viewport=viewport, state=state, outcome=verdict).inc()


@contextmanager
def metrics_server(host: str, port: int) -> Iterator[int]:
    """Serve this process's metrics at http://host:port/metrics (a thread) for the block; yields the port bound."""
    server, thread = start_http_server(port, host)
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        thread.join()
