"""The database layer against a real Postgres: migrations, idempotent ingest, the embedded cluster."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from procrastinate import App
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from lab.config import get_settings
from lab.db import Database
from lab.db.embedded import EmbeddedPostgres
from lab.db.migrate import MigrationResult, migrate, migrate_async
from lab.db.models import Event, Session, SQLModel
from workers.app import PIPELINE_QUEUE

PROCRASTINATE_TABLES = {"procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers"}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {name for (name,) in rows}


def test_migrate_creates_every_table_and_procrastinate_schema(empty_db_url: str) -> None:
    result = migrate(empty_db_url)

    tables = _tables(empty_db_url)
    assert set(SQLModel.metadata.tables) <= tables
    assert tables >= PROCRASTINATE_TABLES | {"alembic_version"}
    assert result.revision_before is None
    assert result.revision_after is not None
    assert result.procrastinate_applied == ["schema.sql"]


def test_second_migrate_is_a_no_op(empty_db_url: str) -> None:
    first = migrate(empty_db_url)
    second = migrate(empty_db_url)

    assert first.changed
    assert not second.changed
    assert second == MigrationResult(first.revision_after, first.revision_after, [])


async def test_migrate_async_on_a_migrated_database_changes_nothing(db_url: str) -> None:
    result = await migrate_async(db_url)

    assert not result.changed


def test_concurrent_migrations_wait_for_each_other(empty_db_url: str) -> None:
    results: list[MigrationResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(empty_db_url))
        except BaseException as error:  # handed to the test thread below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(r.changed for r in results) == [False, False, True]


def _session() -> Session:
    return Session(site="shop-a", mode="automated")


def _event(session_id: uuid.UUID, seq: int, event_type: str = "click") -> Event:
    return Event(session_id=session_id, seq=seq, type=event_type, t=datetime.now(UTC), url="http://shop.test/")


async def test_resent_event_is_ignored_by_on_conflict_do_nothing(database: Database) -> None:
    session = _session()
    async with database.session() as s:
        s.add(session)
    row = _event(session.id, seq=7).model_dump(exclude={"id"})

    async with database.session() as s:
        for _ in range(2):
            await s.exec(insert(Event).values(**row).on_conflict_do_nothing(constraint="uq_events_session_seq"))

    async with database.session() as s:
        count = await s.scalar(select(func.count()).select_from(Event))
    assert count == 1


async def test_resent_event_without_on_conflict_violates_uniqueness(database: Database) -> None:
    session = _session()
    async with database.session() as s:
        s.add(session)
    async with database.session() as s:
        s.add(_event(session.id, seq=1))

    with pytest.raises(IntegrityError, match="uq_events_session_seq"):
        async with database.session() as s:
            s.add(_event(session.id, seq=1, event_type="input"))


async def test_each_test_gets_an_empty_database(database: Database) -> None:
    async with database.session() as s:
        count = await s.scalar(select(func.count()).select_from(Session))
    assert count == 0


async def test_pipeline_app_defers_jobs_into_the_test_database(pipeline_app: App, db_url: str) -> None:
    job_id = await pipeline_app.configure_task("codesight.probe", queue=PIPELINE_QUEUE, allow_unknown=True).defer_async(
        session_id="s-1"
    )

    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT queue_name, task_name, status FROM procrastinate_jobs WHERE id = %s", (job_id,))
        assert row.fetchone() == (PIPELINE_QUEUE, "codesight.probe", "todo")


# -- the embedded cluster itself --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    """A folder the `postgres` OS user can enter (pytest's tmp_path is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="codesight-pg-test-"))
    root.chmod(0o755)
    try:
        yield root / "postgres"
    finally:
        shutil.rmtree(root)


def test_restarted_cluster_keeps_its_data(cluster_dir: Path) -> None:
    port = _free_port()
    with EmbeddedPostgres(cluster_dir, port, get_settings().postgres_bin) as cluster:
        url = cluster.url
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('before restart')")
    assert not cluster.is_running()

    with EmbeddedPostgres(cluster_dir, port, get_settings().postgres_bin) as cluster:
        assert cluster.url == url
        with psycopg.connect(cluster.url) as conn:
            assert conn.execute("SELECT v FROM kept").fetchall() == [("before restart",)]


def test_starting_a_running_cluster_leaves_it_to_its_owner(cluster_dir: Path) -> None:
    owner = EmbeddedPostgres(cluster_dir, _free_port(), get_settings().postgres_bin, durable=False)
    owner.start()
    try:
        with EmbeddedPostgres(cluster_dir, owner.port, get_settings().postgres_bin) as second:
            assert second.is_running()
        assert owner.is_running()
    finally:
        owner.stop()


def test_cluster_starts_over_a_stale_pid_file(cluster_dir: Path) -> None:
    cluster = EmbeddedPostgres(cluster_dir, _free_port(), get_settings().postgres_bin, durable=False)
    cluster.start()
    pid_file = cluster_dir / "postmaster.pid"
    crashed_pid_file = pid_file.read_text()
    cluster.stop()
    # A crash leaves the pid file behind; after a reboot its PID may belong to any process.
    lines = crashed_pid_file.splitlines()
    lines[0] = str(os.getpid())
    pid_file.write_text("\n".join(lines) + "\n")

    try:
        cluster.start()
        with psycopg.connect(cluster.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        cluster.stop()


def test_cluster_listens_on_loopback_with_a_password(cluster_dir: Path) -> None:
    cluster = EmbeddedPostgres(cluster_dir, _free_port(), get_settings().postgres_bin, durable=False)
    with cluster:
        with psycopg.connect(cluster.url) as conn:
            settings: dict[str, str] = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('listen_addresses', 'unix_socket_directories', 'password_encryption')"
                ).fetchall()
            )
        wrong = cluster.url.replace(cluster.password, "wrong")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong).close()
    assert settings == {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "password_encryption": "scram-sha-256",
    }
