"""The pipeline's steps: each loads what it needs, calls the pure core, and writes its result.

Every step takes `(db, blobs, session_id)`, may be run again after a failure (it replaces
what an earlier attempt wrote), and returns a small JSON `detail` for the step's status row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from sqlmodel import col, delete

from lab.config import Settings, get_settings
from lab.db.engine import Database
from lab.db.models import Session, TrainingExample, utcnow
from lab.insights import describe_goal, session_insights
from lab.pipeline.assemble import (
    ACTION_EVENT_TYPES,
    action_frames,
    action_steps,
    blob_file_name,
    event_blob_keys,
    journey_events,
    screen_input,
    screenshot_member_names,
    session_document,
    session_facts,
)
from lab.pipeline.rows import SessionRows, load_session_rows
from lab.quality.review import propose
from lab.quality.score import grade_session
from lab.quality.screenshots import screenshot_stats
from lab.storage.archive import SessionArchive, archive_blob_key, build_archive
from lab.storage.blobs import BlobStore
from lab.storage.keys import load_or_create_archive_key
from lab.training.dataset import session_split
from lab.training.examples import build_example, to_jsonl
from lab.training.validate import limits_for, validate_example
from lab.vision import intent_reader

StepFunction = Callable[[Database, BlobStore, uuid.UUID], Awaitable[dict[str, Any]]]


class InvalidTrainingData(RuntimeError):
    """Some built examples fail validation: a bug in the builder or bad captured data."""


async def _rows(db: Database, session_id: uuid.UUID) -> SessionRows:
    async with db.session() as s:
        return await load_session_rows(s, session_id)


async def _blobs_by_key(blobs: BlobStore, keys: list[str]) -> dict[str, bytes]:
    contents = await asyncio.gather(*(blobs.get(key) for key in keys))
    return dict(zip(keys, contents, strict=True))


def summary_detail(summary: object) -> dict[str, Any]:
    """A replay summary as JSON, whatever plain shape the replay engine returns (UUIDs become strings)."""
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        plain: object = dataclasses.asdict(summary)
    elif callable(getattr(summary, "model_dump", None)):
        plain = summary.model_dump(mode="json")  # type: ignore[attr-defined]
    else:
        plain = str(summary)
    return {"summary": json.loads(json.dumps(plain, default=str))}


async def replay(
    db: Database, blobs: BlobStore, session_id: uuid.UUID, settings: Settings | None = None
) -> dict[str, Any]:
    """Replay every captured selector across the configured conditions (the replay engine writes its rows)."""
    # Imported here: the replay engine pulls in Playwright, which the other steps do not need.
    from lab.replay.conditions import default_matrix
    from lab.replay.run import replay_session

    settings = settings or get_settings()
    summary = await replay_session(db, session_id, default_matrix(settings.replay_viewports, settings.replay_states))
    return summary_detail(summary)


async def quality(db: Database, blobs: BlobStore, session_id: uuid.UUID) -> dict[str, Any]:
    """Grade the session and store `quality_score` and the report on the session."""
    rows = await _rows(db, session_id)
    contents = await _blobs_by_key(blobs, [shot.blob_key for shot in rows.screenshots])
    stats = {shot.id: await asyncio.to_thread(screenshot_stats, contents[shot.blob_key]) for shot in rows.screenshots}
    report = grade_session(session_facts(rows, stats))
    async with db.session() as s:
        session = await s.get(Session, session_id)
        if session is None:
            raise LookupError(f"session {session_id} disappeared during grading")
        session.quality_score = report.score
        session.quality = report.to_dict()
        propose(session, report.score)
        s.add(session)
    return {"score": report.score, "feedback": list(report.feedback), "review": session.review_status}


async def training(
    db: Database, blobs: BlobStore, session_id: uuid.UUID, settings: Settings | None = None
) -> dict[str, Any]:
    """Build, scrub and validate one example per action (click, fill, select, navigate) and store them
    with the session's split; the detail holds the session's insights. Fails when any example is invalid."""
    settings = settings or get_settings()
    rows = await _rows(db, session_id)
    site = rows.session.site
    frames = action_frames(rows, [event.seq for event in rows.events if event.type in ACTION_EVENT_TYPES])
    images = await _blobs_by_key(blobs, sorted({frame.blob_key for frame in frames.values()}))
    actions = action_steps(rows, frames, images)
    async with intent_reader(settings, blobs) as reader:
        intents = await reader.read_all([screen_input(action) for action in actions])
    steps = [dataclasses.replace(a.step, intent=intent) for a, intent in zip(actions, intents, strict=True)]
    summary = session_insights(journey_events(rows))
    goal = describe_goal(site, summary)
    split = session_split(session_id)
    limits = limits_for(settings.ft_provider)
    examples: list[TrainingExample] = []
    for action, step in zip(actions, steps, strict=True):
        body = build_example(site, step, goal)
        errors = validate_example(body, limits)
        examples.append(
            TrainingExample(
                session_id=session_id,
                event_id=action.event_id,
                site=site,
                split=split,
                body=body,
                valid=not errors,
                errors=[str(e) for e in errors],
            )
        )
    async with db.session() as s:
        # A retry replaces what an earlier attempt wrote.
        await s.exec(delete(TrainingExample).where(col(TrainingExample.session_id) == session_id))
        s.add_all(examples)
    invalid = [ex for ex in examples if not ex.valid]
    if invalid:
        first = invalid[0]
        raise InvalidTrainingData(
            f"{len(invalid)} of {len(examples)} training examples of session {session_id} are invalid; "
            f"first (event {first.event_id}): {'; '.join(first.errors)}"
        )
    return {
        "examples": len(examples),
        "with_screenshot": sum(step.screenshot_webp is not None for step in steps),
        "actions": dict(Counter(step.action for step in steps)),
        "split": split,
        "goal": goal,
        "vision": reader.stats.to_dict(),
        "insights": summary.to_dict(),
        "steps": [
            {
                "seq": step.seq,
                "action": step.action,
                "insights": step.insights.to_dict() if step.insights else None,
                "intent": step.intent.to_dict() if step.intent else None,
            }
            for step in steps
        ],
    }


async def archive(
    db: Database, blobs: BlobStore, session_id: uuid.UUID, settings: Settings | None = None
) -> dict[str, Any]:
    """Write the session's encrypted archive to the blob store and record where it is."""
    settings = settings or get_settings()
    rows = await _rows(db, session_id)
    names = screenshot_member_names(rows)
    stored = event_blob_keys(rows)  # DOM snapshots and audio, by event type
    contents = await _blobs_by_key(blobs, [*names, *stored["snapshot"], *stored["audio"]])
    training_jsonl = to_jsonl(ex.body for ex in rows.training_examples if ex.valid)

    def by_name(keys: Iterable[str], name_of: Callable[[str], str] = blob_file_name) -> dict[str, bytes]:
        return {name_of(key): contents[key] for key in keys}

    archive_contents = SessionArchive(
        str(session_id),
        session_document(rows),
        training_jsonl,
        screenshots=by_name(names, names.__getitem__),
        snapshots=by_name(stored["snapshot"]),
        audio=by_name(stored["audio"]),
    )
    key = await asyncio.to_thread(load_or_create_archive_key, settings)
    data = await asyncio.to_thread(build_archive, archive_contents, key, created_at=utcnow())
    blob_key = archive_blob_key(session_id)
    await blobs.put(blob_key, data)
    async with db.session() as s:
        session = await s.get(Session, session_id)
        if session is None:
            raise LookupError(f"session {session_id} disappeared while it was archived")
        session.archive_key, session.archive_bytes = blob_key, len(data)
        s.add(session)
    # The session becomes 'done' in run_step, once this step's own row says done.
    return {"archive_key": blob_key, "size_bytes": len(data)}


STEP_FUNCTIONS: Mapping[str, StepFunction] = {
    "replay": replay,
    "quality": quality,
    "training": training,
    "archive": archive,
}
