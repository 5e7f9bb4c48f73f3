"""Working copies expire after the archive, and readers fall back to it: against a real Postgres, the
real local blob store, the pipeline's steps and the web app."""

from __future__ import annotations

import base64
import gzip
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from procrastinate import App
from sqlmodel import select

from lab.capture import ingest
from lab.capture.media import EBML_MAGIC
from lab.capture.wire import SessionOpen, parse_batch
from lab.config import Settings, get_settings
from lab.db import Database
from lab.db.models import Event, Screenshot, Session
from lab.pipeline import init_steps, run_step
from lab.privacy.erase import erase_session
from lab.storage.archive import SessionArchive, archive_blob_key, build_archive, open_archive
from lab.storage.blobs import BlobStore, LocalBlobStore
from lab.storage.fallback import ArchiveBackedBlobStore
from lab.storage.retention import expire_working_copies
from lab.training.eval_run import stored_snapshots
from lab.training.evaluate import Call, EvalStep
from lab.vision.cache import cache_key, image_sha256
from tests.conftest import LiveServer
from tests.integration.test_ingest_api import auth
from tests.integration.test_pipeline import T0_MS, candidates, wire_events
from workers.tasks import pipeline_busy

SNAPSHOT_HTML = b"<!doctype html><html><body><main><button data-testid='buy'>Add to cart</button></main></body></html>"
AUDIO_WEBM = EBML_MAGIC + b"\x42\x86\x81\x01 narration"
FOLDERS = ("screenshots", "snapshots", "audio")


def events_with_files() -> list[dict[str, Any]]:
    """The pipeline test's session plus a DOM snapshot, a click after it on the same page, and narration."""
    url = "http://127.0.0.1:9000/shop/v1/kettles.html"
    snapshot = "data:application/gzip;base64," + base64.b64encode(gzip.compress(SNAPSHOT_HTML, mtime=0)).decode()
    return [
        *wire_events(),
        {"type": "snapshot", "seq": 7, "t": T0_MS + 70, "url": url, "for_seq": 4, "data": snapshot},
        {
            "type": "click",
            "seq": 8,
            "t": T0_MS + 80,
            "url": url,
            "target": {"tag": "button", "text": "Add to cart"},
            "selectors": candidates("testid", "role", "css"),
        },
        {
            "type": "audio",
            "seq": 9,
            "t": T0_MS + 90,
            "url": url,
            "data": "data:audio/webm;base64," + base64.b64encode(AUDIO_WEBM).decode(),
            "duration_ms": 1000,
            "segment": 0,
        },
    ]


async def archived_session(database: Database, blobs: BlobStore) -> uuid.UUID:
    """A session written through ingest and taken through quality, training and archive."""
    async with database.session() as s:
        session = await ingest.open_session(s, None, SessionOpen(site="shop", site_version="v1"))
        events, errors = parse_batch({"v": 1, "events": events_with_files()})
        assert not errors
        await ingest.ingest_batch(s, blobs, session, events, errors)
        await ingest.complete_session(s, session)
        session_id = session.id
    await init_steps(database, session_id)
    for step in ("quality", "training", "archive"):
        await run_step(database, blobs, session_id, step)
    return session_id


async def loose_files(store: LocalBlobStore, session_id: uuid.UUID) -> dict[str, bytes]:
    """The session's working copies as the store holds them now, by key."""
    keys = [key for folder in FOLDERS for key in await store.list(f"sessions/{session_id}/{folder}/")]
    return {key: await store.get(key) for key in keys}


def members(archive: SessionArchive) -> dict[str, dict[str, bytes]]:
    return {folder: dict(files) for folder, files in archive.folders().items()}


@pytest.fixture
def settings(archive_key: bytes) -> Settings:
    return get_settings()


@pytest.fixture
def store(tmp_path: Any) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "store")


@pytest.fixture
def blobs(store: LocalBlobStore, archive_key: bytes) -> ArchiveBackedBlobStore:
    return ArchiveBackedBlobStore(store, lambda: archive_key)


def after_days(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


async def test_expired_copies_are_gone_and_every_reader_gets_the_same_bytes_from_the_archive(
    live_server: LiveServer, archive_key: bytes, settings: Settings
) -> None:
    db, blobs, store = live_server.services.db, live_server.services.blobs, live_server.local_blobs
    session_id = await archived_session(db, blobs)
    before = await loose_files(store, session_id)
    assert {key.split("/")[2] for key in before} == set(FOLDERS)
    archive_before = open_archive(await store.get(archive_blob_key(session_id)), archive_key)

    report = await expire_working_copies(db, blobs, settings, after_days(settings.working_copy_days + 1))

    assert report.expired == [session_id] and report.kept == {}
    assert report.size_bytes == sum(map(len, before.values()))
    assert await loose_files(store, session_id) == {}
    assert await store.list(f"sessions/{session_id}/") == [archive_blob_key(session_id)]
    async with db.session() as s:
        session = await s.get(Session, session_id)
        shots = (await s.exec(select(Screenshot).where(Screenshot.session_id == session_id))).all()
        stored = {
            e.type: e
            for e in (await s.exec(select(Event).where(Event.session_id == session_id))).all()
            if e.type in ("snapshot", "audio")
        }
        click = (await s.exec(select(Event).where(Event.session_id == session_id, Event.seq == 8))).one()
    assert session is not None and session.working_copies_deleted_at is not None

    # The dashboard serves the same screenshots, snapshot and audio.
    async with httpx.AsyncClient(headers=auth(live_server.user_token)) as client:
        for shot in shots:
            r = await client.get(f"{live_server.url}/screenshots/{shot.id}")
            assert r.status_code == 200, r.text
            assert r.content == before[shot.blob_key]
        for event in stored.values():
            r = await client.get(f"{live_server.url}/events/{event.id}/blob")
            assert r.status_code == 200, r.text
            assert r.content == before[event.payload["blob_key"]]

    # Evaluation's element accuracy still finds the stored DOM snapshot before the click.
    step = EvalStep(
        key="k",
        site="shop",
        page_type="product",
        messages=(),
        tools=(),
        expected=Call("click", {"selectors": [{"kind": "testid", "selector": "testid-selector"}]}),
        session_id=str(session_id),
        event_id=click.id,
    )
    async with db.session() as s:
        pages = await stored_snapshots(s, blobs, [step])
    assert pages["k"].html == SNAPSHOT_HTML.decode()

    # A resumed pipeline's archive step rebuilds the archive from the old one: nothing goes missing.
    await run_step(db, blobs, session_id, "archive")
    archive_after = open_archive(await store.get(archive_blob_key(session_id)), archive_key)
    assert members(archive_after) == members(archive_before)
    assert sum(len(files) for files in members(archive_after).values()) == len(before)
    assert await loose_files(store, session_id) == {}

    # Done once: the next round finds nothing to do.
    again = await expire_working_copies(db, blobs, settings, after_days(settings.working_copy_days + 2))
    assert again.expired == [] and again.kept == {} and again.size_bytes == 0


async def test_copies_stay_until_the_days_have_passed(
    database: Database, store: LocalBlobStore, blobs: ArchiveBackedBlobStore, settings: Settings
) -> None:
    session_id = await archived_session(database, blobs)
    before = await loose_files(store, session_id)

    report = await expire_working_copies(database, blobs, settings, after_days(settings.working_copy_days - 1))

    assert report.expired == [] and report.kept == {}
    assert await loose_files(store, session_id) == before

    right_away = settings.model_copy(update={"working_copy_days": 0})
    assert (await expire_working_copies(database, blobs, right_away, after_days(0.001))).expired == [session_id]
    assert await loose_files(store, session_id) == {}


async def test_copies_stay_when_the_archive_lacks_a_file(
    database: Database, store: LocalBlobStore, blobs: ArchiveBackedBlobStore, settings: Settings
) -> None:
    session_id = await archived_session(database, blobs)
    await store.put(f"sessions/{session_id}/snapshots/99.html.gz", gzip.compress(b"<html>late</html>"))
    before = await loose_files(store, session_id)

    report = await expire_working_copies(database, blobs, settings, after_days(settings.working_copy_days + 1))

    assert report.expired == [] and report.size_bytes == 0
    assert "lacks 1 snapshots files" in report.kept[session_id]
    assert await loose_files(store, session_id) == before
    async with database.session() as s:
        session = await s.get(Session, session_id)
    assert session is not None and session.working_copies_deleted_at is None


@pytest.mark.parametrize("damage", ["another key", "truncated", "missing"])
async def test_copies_stay_when_the_archive_does_not_open(
    database: Database,
    store: LocalBlobStore,
    blobs: ArchiveBackedBlobStore,
    settings: Settings,
    archive_key: bytes,
    damage: str,
) -> None:
    session_id = await archived_session(database, blobs)
    before = await loose_files(store, session_id)
    key = archive_blob_key(session_id)
    original = await store.get(key)
    if damage == "another key":
        archive = open_archive(original, archive_key)
        await store.put(key, build_archive(archive, Fernet.generate_key(), created_at=datetime.now(UTC)))
    elif damage == "truncated":
        await store.put(key, original[: len(original) // 2])
    else:
        await store.delete(key)

    report = await expire_working_copies(database, blobs, settings, after_days(settings.working_copy_days + 1))

    assert report.expired == [] and session_id in report.kept
    assert await loose_files(store, session_id) == before


async def test_the_wrapper_reads_only_working_copies_of_archived_sessions_and_opens_each_archive_once(
    database: Database, store: LocalBlobStore, blobs: ArchiveBackedBlobStore, settings: Settings
) -> None:
    session_id = await archived_session(database, blobs)
    before = await loose_files(store, session_id)
    await expire_working_copies(database, blobs, settings.model_copy(update={"working_copy_days": 0}), after_days(1))

    for key, data in before.items():
        assert await blobs.get(key) == data
        assert await blobs.exists(key)
    assert await blobs.archive(str(session_id)) is await blobs.archive(str(session_id))
    assert await blobs.list(f"sessions/{session_id}/screenshots/") == sorted(
        key for key in before if "/screenshots/" in key
    )
    for missing in (
        f"sessions/{session_id}/screenshots/404.webp",  # not in the archive
        f"sessions/{uuid.uuid4()}/screenshots/1.webp",  # no such session, no archive
        "vision-cache/nothing.json",  # not a working copy
    ):
        assert not await blobs.exists(missing)
        with pytest.raises(FileNotFoundError):
            await blobs.get(missing)


async def test_erasure_after_expiry_deletes_the_vision_answers_of_archived_screenshots(
    database: Database, store: LocalBlobStore, blobs: ArchiveBackedBlobStore, settings: Settings, pipeline_app: App
) -> None:
    session_id = await archived_session(database, blobs)
    shot = await store.get(f"sessions/{session_id}/screenshots/1.webp")
    vision_answer = cache_key(image_sha256(shot))
    await store.put(vision_answer, b'{"source": "test"}')
    await expire_working_copies(database, blobs, settings.model_copy(update={"working_copy_days": 0}), after_days(1))

    report = await erase_session(database, blobs, session_id, busy=partial(pipeline_busy, pipeline_app))

    assert report.blob_failures == {}
    assert not await store.exists(vision_answer)
    assert await store.list(f"sessions/{session_id}/") == []
