"""The right to erasure against a real Postgres, the real blob store, the queue and the HTTP app:
a participant's or a session's rows and blobs go everywhere, others' stay, and a re-run finishes."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from PIL import Image
from procrastinate import App
from psycopg import sql
from sqlmodel import col, select

from lab.accounts import add_participant, add_user, find_by_token
from lab.capture import ingest
from lab.capture.wire import SessionOpen, parse_batch
from lab.config import get_settings
from lab.db import Database
from lab.db.models import (
    Erasure,
    Event,
    ReplayResult,
    ReplayVerdict,
    SelectorCandidate,
    Session,
    TrainingRun,
)
from lab.pipeline import init_steps, run_step
from lab.privacy.erase import ErasureRefusedError, erase_participant, erase_session
from lab.storage.archive import ARCHIVE_SUFFIX, archive_blob_key
from lab.storage.blobs import BlobStore, LocalBlobStore, PrefixDeletion
from lab.vision.cache import cache_key, image_sha256
from tests.conftest import LiveServer
from tests.integration.test_pipeline import wire_events
from web.cli import main
from workers.tasks import defer_step, pipeline_busy

# Tables where an erased session's opaque id stays on purpose: the erasure's own record, and a
# training run's dataset record (it names which runs' provider files the operator must delete).
KEEPS_OPAQUE_IDS = {"erasures", "training_runs"}


def webp_data_url(shade: int) -> str:
    """A screenshot unique to `shade`, so each session's vision-cache key is its own."""
    image = Image.new("RGB", (320, 200), (shade, 255 - shade, 128))
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=80)
    return "data:image/webp;base64," + base64.b64encode(out.getvalue()).decode()


def snapshot_data_url() -> str:
    html = b"<!doctype html><html><body><main><button>Add to cart</button></main></body></html>"
    return "data:application/gzip;base64," + base64.b64encode(gzip.compress(html)).decode()


def session_events(shade: int) -> list[dict[str, Any]]:
    events = wire_events()
    for event in events:
        if event["type"] == "screenshot":
            event["image"] = webp_data_url(shade + event["seq"])
    last = events[-1]
    events.append({"type": "snapshot", "seq": 7, "t": last["t"] + 10, "url": last["url"], "data": snapshot_data_url()})
    return events


async def record(database: Database, blobs: BlobStore, participant_id: uuid.UUID | None, shade: int) -> uuid.UUID:
    """A completed session of `participant_id` written through ingest, with a replay result and verdict."""
    async with database.session() as s:
        session = await ingest.open_session(s, participant_id, SessionOpen(site="shop", site_version="v1"))
        events, errors = parse_batch({"v": 1, "events": session_events(shade)})
        assert not errors
        await ingest.ingest_batch(s, blobs, session, events, errors)
        await ingest.complete_session(s, session)
        session_id = session.id
    async with database.session() as s:
        candidate = (await s.exec(select(SelectorCandidate).where(SelectorCandidate.session_id == session_id))).first()
        assert candidate is not None and candidate.id is not None
        s.add(ReplayResult(candidate_id=candidate.id, condition="desktop/fresh", matched_count=1, correct=True))
        s.add(
            ReplayVerdict(
                event_id=candidate.event_id,
                condition="desktop/fresh",
                pick="candidate",
                candidate_id=candidate.id,
                target="present",
                outcome="correct",
            )
        )
    await init_steps(database, session_id)
    return session_id


async def processed(database: Database, blobs: BlobStore, participant_id: uuid.UUID | None, shade: int) -> uuid.UUID:
    """A session taken through quality, training and archive, with a vision answer cached for one screenshot."""
    session_id = await record(database, blobs, participant_id, shade)
    for step in ("quality", "training", "archive"):
        await run_step(database, blobs, session_id, step)
    shot = await blobs.get(f"sessions/{session_id}/screenshots/1.webp")
    await blobs.put(cache_key(image_sha256(shot)), b'{"source": "test"}')
    return session_id


def tables_mentioning(db_url: str, needles: list[str]) -> dict[str, int]:
    """Every table of the database (ours and procrastinate's) whose rows, as text, contain any needle."""
    found: dict[str, int] = {}
    with psycopg.connect(db_url) as conn:
        tables = [name for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            query = sql.SQL("SELECT count(*) FROM {} AS t WHERE t::text LIKE ANY(%s)").format(sql.Identifier(table))
            row = conn.execute(query, ([f"%{needle}%" for needle in needles],)).fetchone()
            if row and row[0]:
                found[table] = row[0]
    return found


def row_counts(db_url: str, session_id: uuid.UUID) -> dict[str, int]:
    return tables_mentioning(db_url, [str(session_id)])


async def never_busy(session_id: uuid.UUID) -> bool:
    return False


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def test_erasing_a_participant_leaves_nothing_of_theirs_and_spares_the_others(
    database: Database, db_url: str, blobs: LocalBlobStore, archive_key: bytes, pipeline_app: App
) -> None:
    async with database.session() as s:
        erased, erased_token = await add_participant(s, "erased")
        other, _ = await add_participant(s, "other")
        erased_id, other_id = erased.id, other.id
    mine = [await processed(database, blobs, erased_id, 10), await processed(database, blobs, erased_id, 60)]
    theirs = await processed(database, blobs, other_id, 120)
    async with database.session() as s:
        run = TrainingRun(site="shop", provider="openai", model="gpt-4o-mini", training_file_id="file-abc")
        run.dataset = {"train_sessions": [str(mine[0]), str(theirs)], "validation_sessions": []}
        s.add(run)
    my_keys = {sid: await blobs.list(f"sessions/{sid}/") for sid in mine}
    my_cache_keys = [cache_key(image_sha256(await blobs.get(f"sessions/{sid}/screenshots/1.webp"))) for sid in mine]
    their_keys = await blobs.list(f"sessions/{theirs}/")
    their_cache_key = cache_key(image_sha256(await blobs.get(f"sessions/{theirs}/screenshots/1.webp")))
    their_rows = row_counts(db_url, theirs)
    assert all(archive_blob_key(sid) in my_keys[sid] for sid in mine)
    assert all(any("/snapshots/" in key for key in keys) for keys in my_keys.values())

    report = await erase_participant(database, blobs, erased_id, busy=partial(pipeline_busy, pipeline_app))

    assert report.complete and report.participant_deleted and report.sessions_deleted == 2
    assert sorted(report.sessions) == sorted(str(sid) for sid in mine)
    rows = report.rows_deleted
    assert rows["sessions"] == 2 and rows["participants"] == 1
    assert rows["events"] == 16 and rows["screenshots"] == 6 and rows["pages"] == 4
    assert rows["replay_results"] == 2 and rows["replay_verdicts"] == 2
    assert rows["training_examples"] == 4 and rows["pipeline_steps"] == 8 and rows["selector_candidates"] == 10
    assert report.blobs_deleted == sum(len(keys) for keys in my_keys.values())
    assert report.bytes_freed > 0
    assert [run["training_file_id"] for run in report.training_runs] == ["file-abc"]

    # Nothing of theirs anywhere in the database but the opaque ids kept on purpose...
    needles = [str(erased_id), *(str(sid) for sid in mine)]
    assert set(tables_mentioning(db_url, needles)) == KEEPS_OPAQUE_IDS
    # ...nor in the blob store: screenshots, snapshots, archives, cached vision answers.
    remaining = await blobs.list("")
    assert not [key for key in remaining if any(str(sid) in key for sid in mine)]
    assert not set(my_cache_keys) & set(remaining)
    assert not (blobs.root / "sessions" / str(mine[0])).exists()
    async with database.session() as s:
        assert await find_by_token(s, erased_token) is None
        erasure = (await s.exec(select(Erasure))).one()
        assert await s.get(TrainingRun, run.id) is not None
    assert (erasure.subject, erasure.subject_id, erasure.completed_at is not None) == ("participant", erased_id, True)
    assert erasure.rows_deleted == rows and erasure.blobs_deleted == report.blobs_deleted

    # The other participant's session is untouched.
    assert await blobs.list(f"sessions/{theirs}/") == their_keys
    assert await blobs.exists(their_cache_key)
    assert row_counts(db_url, theirs) == their_rows

    again = await erase_participant(database, blobs, erased_id, busy=partial(pipeline_busy, pipeline_app))
    assert again.complete and again.sessions_deleted == 0 and again.blobs_deleted == 0
    assert again.erasure_id == report.erasure_id


class StuckArchiveStore(LocalBlobStore):
    """A local store whose archives cannot be deleted, as an S3 bucket policy might refuse them."""

    async def delete_prefix(self, prefix: str) -> PrefixDeletion:
        keys = await self.list(prefix)
        stuck = [key for key in keys if key.endswith(ARCHIVE_SUFFIX)]
        for key in keys:
            if key not in stuck:
                await self.delete(key)
        return PrefixDeletion(tuple(k for k in keys if k not in stuck), 0, {k: "AccessDenied: refused" for k in stuck})


async def test_a_second_run_deletes_the_blobs_the_first_could_not(
    database: Database, tmp_path: Path, archive_key: bytes
) -> None:
    store = StuckArchiveStore(tmp_path / "blobs")
    async with database.session() as s:
        participant, _ = await add_participant(s, "leaving")
        participant_id = participant.id
    session_id = await processed(database, store, participant_id, 30)

    first = await erase_participant(database, store, participant_id, busy=never_busy)

    assert not first.complete
    assert list(first.blob_failures) == [archive_blob_key(session_id)]
    assert "NOT COMPLETE" in first.render() and archive_blob_key(session_id) in first.render()
    assert await store.list("sessions/") == [archive_blob_key(session_id)]
    async with database.session() as s:
        erasure = (await s.exec(select(Erasure))).one()
        assert await s.get(Session, session_id) is None
    assert erasure.completed_at is None and list(erasure.blob_failures) == [archive_blob_key(session_id)]

    healthy = LocalBlobStore(tmp_path / "blobs")
    second = await erase_participant(database, healthy, participant_id, busy=never_busy)

    assert second.complete and second.blobs_deleted == 1 and second.sessions == [str(session_id)]
    assert await healthy.list("") == [key for key in await healthy.list("") if key.startswith("vision-cache/")]
    assert not [key for key in await healthy.list("") if str(session_id) in key]
    async with database.session() as s:
        erasure = (await s.exec(select(Erasure))).one()
    assert erasure.completed_at is not None and erasure.blob_failures == {}

    with pytest.raises(LookupError, match="participant"):
        await erase_participant(database, healthy, uuid.uuid4(), busy=never_busy)
    with pytest.raises(LookupError, match="session"):
        await erase_session(database, healthy, uuid.uuid4(), busy=never_busy)


async def test_a_session_with_a_queued_pipeline_job_is_refused(
    database: Database, db_url: str, blobs: LocalBlobStore, pipeline_app: App
) -> None:
    session_id = await record(database, blobs, None, 40)
    await defer_step(pipeline_app, session_id, "quality")
    before = row_counts(db_url, session_id)

    with pytest.raises(ErasureRefusedError, match=str(session_id)):
        await erase_session(database, blobs, session_id, busy=partial(pipeline_busy, pipeline_app))

    assert row_counts(db_url, session_id) == before
    assert await blobs.exists(f"sessions/{session_id}/screenshots/1.webp")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_delete_endpoints_answer_report_404_409_and_403(live_server: LiveServer) -> None:
    services = live_server.services
    async with services.db.session() as s:
        _, viewer_token = await add_user(s, "victor", "viewer")
        participant, _ = await add_participant(s, "leaving")
        participant_id = participant.id
    busy_session = await record(services.db, services.blobs, participant_id, 50)
    free_session = await record(services.db, services.blobs, None, 90)
    await defer_step(services.queue, busy_session, "quality")
    admin = auth(live_server.user_token)

    async with httpx.AsyncClient(base_url=live_server.url) as client:
        for path in (f"/api/v1/sessions/{free_session}", f"/api/v1/participants/{participant_id}"):
            assert (await client.delete(path, headers=auth(viewer_token))).status_code == 403
            assert (await client.delete(path, headers=auth(live_server.participant_token))).status_code == 401
        refused = await client.delete(f"/api/v1/sessions/{busy_session}", headers=admin)
        assert refused.status_code == 409 and str(busy_session) in refused.json()["detail"]
        refused = await client.delete(f"/api/v1/participants/{participant_id}", headers=admin)
        assert refused.status_code == 409
        assert (await client.delete(f"/api/v1/sessions/{uuid.uuid4()}", headers=admin)).status_code == 404
        assert (await client.delete(f"/api/v1/participants/{uuid.uuid4()}", headers=admin)).status_code == 404

        done = await client.delete(f"/api/v1/sessions/{free_session}", headers=admin)
        again = await client.delete(f"/api/v1/sessions/{free_session}", headers=admin)

    assert again.status_code == 200 and again.json()["sessions_deleted"] == 0 and again.json()["complete"]
    assert again.json()["erasure_id"] == done.json()["erasure_id"]
    assert done.status_code == 200
    body = done.json()
    assert body["complete"] and body["sessions_deleted"] == 1 and body["rows_deleted"]["events"] == 8
    assert body["blobs_deleted"] == 4 and "cannot recall" in body["not_recalled"]
    async with services.db.session() as s:
        assert await s.get(Session, busy_session) is not None
        assert await s.get(Session, free_session) is None
        erasure = (await s.exec(select(Erasure))).one()
        user = await find_by_token(s, live_server.user_token)
    assert user is not None and erasure.requested_by == user.id and erasure.subject == "session"
    assert await services.blobs.list(f"sessions/{free_session}/") == []


async def test_dashboard_delete_form_for_admins_redirects_to_the_list(live_server: LiveServer) -> None:
    services = live_server.services
    async with services.db.session() as s:
        _, viewer_token = await add_user(s, "victor", "viewer")
    first = await record(services.db, services.blobs, None, 70)
    second = await record(services.db, services.blobs, None, 80)
    admin = auth(live_server.user_token)

    async with httpx.AsyncClient(base_url=live_server.url) as client:
        page = await client.get(f"/sessions/{first}", headers=admin)
        assert "Delete this session" in page.text and "hx-confirm=" in page.text
        assert "Delete this session" not in (await client.get(f"/sessions/{first}", headers=auth(viewer_token))).text
        forbidden = await client.post(f"/sessions/{first}/erase", headers=auth(viewer_token))
        assert forbidden.status_code == 403

        htmx = await client.post(f"/sessions/{first}/erase", headers={**admin, "HX-Request": "true"})
        plain = await client.post(f"/sessions/{second}/erase", headers=admin)

    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"] == "/sessions"
    assert plain.status_code == 303 and plain.headers["location"] == "/sessions"
    async with services.db.session() as s:
        left = (await s.exec(select(Event).where(col(Event.session_id).in_([first, second])))).all()
    assert left == []


def test_cli_erases_after_confirmation(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIGHT_DATABASE_URL", db_url)
    monkeypatch.setenv("CODESIGHT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CODESIGHT_S3_BUCKET", raising=False)
    get_settings.cache_clear()
    blobs = LocalBlobStore(get_settings().blob_root)

    async def setup() -> tuple[uuid.UUID, uuid.UUID]:
        database = Database(db_url)
        try:
            async with database.session() as s:
                participant, _ = await add_participant(s, "carol")
                participant_id = participant.id
            session_id = await record(database, blobs, participant_id, 100)
            await record(database, blobs, participant_id, 110)
            return participant_id, session_id
        finally:
            await database.dispose()

    try:
        participant_id, session_id = asyncio.run(setup())
        runner = CliRunner()

        declined = runner.invoke(main, ["sessions", "erase", str(session_id)], input="n\n")
        assert declined.exit_code == 0, declined.output
        assert "nothing erased" in declined.output and blobs.root.joinpath(f"sessions/{session_id}").exists()

        one = runner.invoke(main, ["sessions", "erase", str(session_id)], input="y\n")
        assert one.exit_code == 0, one.output
        assert "sessions deleted: 1 of 1" in one.output and "cannot recall" in one.output
        assert not blobs.root.joinpath(f"sessions/{session_id}").exists()

        everyone = runner.invoke(main, ["participants", "erase", "carol", "--yes"])
        assert everyone.exit_code == 0, everyone.output
        assert "sessions deleted: 1 of 1; participant deleted" in everyone.output
        assert not [key for key in asyncio.run(blobs.list("")) if key.startswith("sessions/")]

        again = runner.invoke(main, ["participants", "erase", str(participant_id), "--yes"])
        assert again.exit_code == 0 and "sessions deleted: 0 of 1" in again.output
        unknown = runner.invoke(main, ["participants", "erase", "nobody", "--yes"])
        assert unknown.exit_code == 1 and "no participant named" in unknown.output
    finally:
        get_settings.cache_clear()
