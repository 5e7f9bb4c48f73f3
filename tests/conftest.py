"""Shared fixtures: one real, throwaway Postgres cluster per test process, one database per test.

The cluster starts lazily (unit tests never pay for it), once per pytest process (each xdist
worker gets its own folder and port), and holds a migrated template database; every test that
asks for `db_url` or `database` gets a fresh clone of it (`CREATE DATABASE ... TEMPLATE`),
dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from procrastinate import App
from psycopg import sql

from lab.config import get_settings
from lab.db import Database
from lab.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from lab.db.migrate import migrate
from lab.monitoring.logging import configure_logging
from lab.storage.blobs import LocalBlobStore
from lab.storage.fallback import ArchiveBackedBlobStore, with_archive_fallback
from web.services import Services

TEMPLATE_DB = "codesight_template"
configure_logging(json_logs=False, level="INFO")
PORT_ATTEMPTS = 5


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_test_cluster(data_dir: Path) -> EmbeddedPostgres:
    """Start a non-durable cluster on a free port; retry when another process grabbed the port first."""
    last_error: EmbeddedPostgresError | None = None
    for _ in range(PORT_ATTEMPTS):
        cluster = EmbeddedPostgres(data_dir, _free_port(), get_settings().postgres_bin, durable=False)
        try:
            cluster.start()
            return cluster
        except EmbeddedPostgresError as error:
            last_error = error
    raise EmbeddedPostgresError(f"test cluster did not start after {PORT_ATTEMPTS} ports") from last_error


def create_database(admin: psycopg.Connection, name: str, template: str) -> None:
    admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))


def drop_database(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedPostgres]:
    """The test process's own running cluster (fsync off), removed at the end of the session."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    root = Path(tempfile.mkdtemp(prefix=f"codesight-pg-{worker}-"))
    # When we are root the server runs as `postgres`, which must be able to enter the folder.
    root.chmod(0o755)
    cluster: EmbeddedPostgres | None = None
    try:
        cluster = _start_test_cluster(root / "data")
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root)


@pytest.fixture(scope="session")
def pg_admin(pg_cluster: EmbeddedPostgres) -> Iterator[psycopg.Connection]:
    """An autocommit superuser connection to the `postgres` database, for creating and dropping databases."""
    with psycopg.connect(pg_cluster.url_for("postgres"), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def template_db(pg_cluster: EmbeddedPostgres, pg_admin: psycopg.Connection) -> str:
    """Name of a database migrated to head, procrastinate schema included; only ever cloned."""
    create_database(pg_admin, TEMPLATE_DB, "template0")
    migrate(pg_cluster.url_for(TEMPLATE_DB))
    # Refuse connections from now on: CREATE DATABASE ... TEMPLATE fails while anyone is connected.
    pg_admin.execute(
        sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true").format(sql.Identifier(TEMPLATE_DB))
    )
    return TEMPLATE_DB


@pytest.fixture
def db_url(pg_cluster: EmbeddedPostgres, pg_admin: psycopg.Connection, template_db: str) -> Iterator[str]:
    """`postgresql://` URL of a fresh, fully migrated database of this test's own."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    create_database(pg_admin, name, template_db)
    try:
        yield pg_cluster.url_for(name)
    finally:
        drop_database(pg_admin, name)


@pytest.fixture
def empty_db_url(pg_cluster: EmbeddedPostgres, pg_admin: psycopg.Connection) -> Iterator[str]:
    """`postgresql://` URL of a fresh database with no schema at all (for migration tests)."""
    name = f"empty_{uuid.uuid4().hex[:16]}"
    create_database(pg_admin, name, "template0")
    try:
        yield pg_cluster.url_for(name)
    finally:
        drop_database(pg_admin, name)


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    """A `lab.db.Database` on this test's fresh database."""
    db = Database(db_url, pool_size=5)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def pipeline_app(db_url: str) -> AsyncIterator[App]:
    """The procrastinate App (workers.app.app, tasks included), opened on this test's database."""
    from workers.app import open_app

    async with open_app(db_url) as app:
        yield app


@dataclass
class LiveServer:
    """The real web app served over HTTP on a free loopback port, with a participant and a user."""

    url: str
    services: Services
    participant_token: str
    user_token: str

    @property
    def local_blobs(self) -> LocalBlobStore:
        """The local store under the Services' archive-backed one (raw reads, its folder on disk)."""
        blobs = self.services.blobs
        assert isinstance(blobs, ArchiveBackedBlobStore) and isinstance(blobs.inner, LocalBlobStore)
        return blobs.inner

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


@pytest.fixture
async def live_server(database: Database, pipeline_app: App, tmp_path: Path) -> AsyncIterator[LiveServer]:
    """`codesight up`'s web app on this test's database, a local blob store (archive-backed) and the queue
    (no worker)."""
    from lab.accounts import add_participant, add_user
    from web.app import create_app
    from web.server import make_server
    from workers.context import use_resources

    settings = get_settings()
    # Wrapped as the composition roots wrap it; the archive key is read from settings when first needed.
    blobs = with_archive_fallback(LocalBlobStore(tmp_path / "blobs"))
    services = Services(settings=settings, db=database, blobs=blobs, queue=pipeline_app)
    async with database.session() as s:
        _, participant_token = await add_participant(s, "robot")
        _, user_token = await add_user(s, "alice", "admin")
    port = _free_port()
    server = make_server(create_app(services), "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    await server.wait_started(task)
    try:
        with use_resources(database, services.blobs):
            yield LiveServer(f"http://127.0.0.1:{port}", services, participant_token, user_token)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def pipeline_worker(live_server: LiveServer) -> AsyncIterator[None]:
    """A real procrastinate worker running the pipeline queue in this event loop."""
    from workers.context import close_browser

    worker = asyncio.create_task(
        live_server.services.queue.run_worker_async(queues=["pipeline"], concurrency=2, install_signal_handlers=False)
    )
    try:
        yield
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await close_browser()  # the worker's shared replay browser, as run_workers closes it


@pytest.fixture
def archive_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[bytes]:
    """Settings with a known archive key and a throwaway home, for the pipeline steps that read settings."""
    key = Fernet.generate_key()
    monkeypatch.setenv("CODESIGHT_ARCHIVE_KEY", key.decode())
    monkeypatch.setenv("CODESIGHT_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield key
    get_settings.cache_clear()
