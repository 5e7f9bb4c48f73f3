"""Bring a database to the current schema: CodeSight's alembic revisions, then procrastinate's.

Safe to run from several processes at once (a Postgres advisory lock serialises them) and
as often as you like (a database already at head is left alone).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from procrastinate.schema import SchemaManager
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# pg_advisory_lock key held while migrating: the bytes of "codesigt" as a bigint.
MIGRATION_LOCK_ID = 0x636F_6465_7369_6774
# Procrastinate ships plain SQL migrations and leaves tracking them to its users; this table does.
PROCRASTINATE_LEDGER = "codesight_procrastinate_migrations"
PROCRASTINATE_SENTINEL_TABLE = "procrastinate_jobs"


@dataclass
class MigrationResult:
    """What one `migrate` call changed."""

    revision_before: str | None
    revision_after: str | None
    procrastinate_applied: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.revision_before != self.revision_after or bool(self.procrastinate_applied)


def sync_url(url: str) -> str:
    """The SQLAlchemy psycopg (sync) form of any `postgresql://` style URL; alembic runs on it."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a Postgres URL: {url.split('@')[-1]!r}")


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration pointing at the packaged migrations; no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Compare only what CodeSight owns: tables in the database but not in our metadata
    (procrastinate's, the ledger) are someone else's."""
    return not (type_ == "table" and reflected and compare_to is None)


def migrate(url: str) -> MigrationResult:
    """Apply every pending alembic revision and procrastinate's schema or migrations, under a lock."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_ID})
            conn.commit()
            try:
                return _migrate_locked(conn)
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_ID})
                conn.commit()
    finally:
        engine.dispose()


async def migrate_async(url: str) -> MigrationResult:
    """`migrate` from async code (runs in a worker thread; alembic is synchronous)."""
    return await asyncio.to_thread(migrate, url)


def _migrate_locked(conn: Connection) -> MigrationResult:
    before = _current_revision(conn)
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
    conn.commit()
    after = _current_revision(conn)
    applied = _apply_procrastinate(conn)
    conn.commit()
    result = MigrationResult(before, after, applied)
    log.info(
        "db.migrated" if result.changed else "db.up_to_date",
        revision_before=before,
        revision_after=after,
        procrastinate_applied=applied,
    )
    return result


def _current_revision(conn: Connection) -> str | None:
    revision = MigrationContext.configure(conn).get_current_revision()
    conn.commit()
    return revision


def procrastinate_migrations() -> list[str]:
    """Names of the SQL migrations the installed procrastinate ships, oldest first."""
    folder = Path(SchemaManager.get_migrations_path())
    return sorted(p.name for p in folder.glob("*.sql"))


def _apply_procrastinate(conn: Connection) -> list[str]:
    """Install procrastinate's schema on a fresh database, or apply the migrations it shipped since.

    A fresh install records every shipped migration as applied, since schema.sql is their sum.
    Procrastinate's pre/post migrations are applied together: CodeSight upgrades stop the workers.
    """
    has_schema = conn.execute(
        text("SELECT to_regclass(:name) IS NOT NULL"), {"name": PROCRASTINATE_SENTINEL_TABLE}
    ).scalar_one()
    conn.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {PROCRASTINATE_LEDGER} ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
    )
    shipped = procrastinate_migrations()
    applied = set(conn.execute(text(f"SELECT name FROM {PROCRASTINATE_LEDGER}")).scalars())
    if not has_schema:
        _execute_script(conn, SchemaManager.get_schema())
        _record(conn, shipped)
        return ["schema.sql"]
    if not applied:
        # Installed by `procrastinate schema --apply`, not by us: assume it matches this version.
        log.warning("db.procrastinate_schema_untracked", assumed_version_migrations=len(shipped))
        _record(conn, shipped)
        return []
    pending = [name for name in shipped if name not in applied]
    folder = Path(SchemaManager.get_migrations_path())
    for name in pending:
        _execute_script(conn, (folder / name).read_text(encoding="utf-8"))
        _record(conn, [name])
    return pending


def _execute_script(conn: Connection, script: str) -> None:
    """Run a multi-statement SQL script in the connection's current transaction."""
    driver_connection = conn.connection.driver_connection
    assert driver_connection is not None
    # No parameters: psycopg sends the script as is, several statements and `%` included.
    driver_connection.execute(script)


def _record(conn: Connection, names: list[str]) -> None:
    if names:
        conn.execute(
            text(f"INSERT INTO {PROCRASTINATE_LEDGER} (name) VALUES (:name) ON CONFLICT DO NOTHING"),
            [{"name": name} for name in names],
        )


def schema_diff(url: str) -> list[Any]:
    """Differences between the database's tables and lab.db.models (empty when they agree)."""
    from lab.db.models import SQLModel

    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def new_revision(url: str, message: str) -> list[Path]:
    """Autogenerate a revision from the difference between `url` (at head) and the models;
    review the file by hand before committing it."""
    if not schema_diff(url):
        raise ValueError("the database already matches lab.db.models: no revision to generate")
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            scripts = command.revision(config, message=message, autogenerate=True, rev_id=_next_revision_id())
    finally:
        engine.dispose()
    if scripts is None:
        return []
    items = scripts if isinstance(scripts, list) else [scripts]
    return [Path(s.path) for s in items if s is not None]


def _next_revision_id() -> str:
    """Revisions are numbered 0001, 0002, ... so the folder reads in order."""
    numbers = [int(p.name[:4]) for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    return f"{max(numbers, default=0) + 1:04d}"
