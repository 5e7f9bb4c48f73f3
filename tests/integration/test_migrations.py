"""Migrations, as procrastinate tests its own: applying every revision in order yields the schema
of the models, and rows written before a migration survive it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
from alembic import command
from alembic.script import ScriptDirectory
from procrastinate.schema import SchemaManager
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from lab.db.migrate import (
    PROCRASTINATE_LEDGER,
    alembic_config,
    migrate,
    procrastinate_migrations,
    schema_diff,
    sync_url,
)
from lab.db.models import SQLModel


def _revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def _alembic(url: str, action: str, target: str) -> None:
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            getattr(command, action)(config, target)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {name for (name,) in rows}


def test_revisions_form_one_line_with_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())

    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_every_revision_in_order_yields_the_models_schema(empty_db_url: str) -> None:
    for revision in _revisions_oldest_first():
        _alembic(empty_db_url, "upgrade", revision)

    assert schema_diff(empty_db_url) == []


def test_migrated_template_matches_the_models(db_url: str) -> None:
    assert schema_diff(db_url) == []


def test_downgrade_to_base_and_back_yields_the_same_schema(empty_db_url: str) -> None:
    migrate(empty_db_url)

    _alembic(empty_db_url, "downgrade", "base")
    assert _tables(empty_db_url).isdisjoint(SQLModel.metadata.tables)
    _alembic(empty_db_url, "upgrade", "head")

    assert schema_diff(empty_db_url) == []


def test_rows_written_before_each_revision_survive_the_rest(empty_db_url: str) -> None:
    session_id = uuid.uuid4()
    revisions = _revisions_oldest_first()
    _alembic(empty_db_url, "upgrade", revisions[0])
    with psycopg.connect(empty_db_url) as conn:
        conn.execute(
            "INSERT INTO sessions (id, mode, site, status, started_at, quality) "
            "VALUES (%s, 'human', 'shop-a', 'recording', %s, '{}')",
            (session_id, datetime.now(UTC)),
        )
        conn.execute(
            "INSERT INTO events (session_id, seq, type, t, url, payload, received_at) "
            "VALUES (%s, 1, 'click', now(), 'http://shop.test/', '{\"x\": 1}', now())",
            (session_id,),
        )

    for revision in revisions[1:]:
        _alembic(empty_db_url, "upgrade", revision)
    migrate(empty_db_url)
    migrate(empty_db_url)

    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT site FROM sessions WHERE id = %s", (session_id,)).fetchall() == [("shop-a",)]
        assert conn.execute("SELECT seq, payload FROM events").fetchall() == [(1, {"x": 1})]


def test_fresh_install_records_every_shipped_procrastinate_migration(empty_db_url: str) -> None:
    migrate(empty_db_url)

    with psycopg.connect(empty_db_url) as conn:
        recorded = [name for (name,) in conn.execute(f"SELECT name FROM {PROCRASTINATE_LEDGER} ORDER BY name")]
    assert recorded == procrastinate_migrations()
    assert recorded, "procrastinate ships its migrations as SQL files"


def test_procrastinate_schema_installed_elsewhere_is_adopted_not_reapplied(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as conn:
        conn.execute(SchemaManager.get_schema())  # as `procrastinate schema --apply` would
        conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, args) VALUES ('pipeline', 't', '{}')")

    result = migrate(empty_db_url)

    assert result.procrastinate_applied == []
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone() == (1,)
        assert conn.execute(f"SELECT count(*) FROM {PROCRASTINATE_LEDGER}").fetchone() == (
            len(procrastinate_migrations()),
        )


def test_procrastinate_migration_missing_from_the_ledger_is_applied(empty_db_url: str) -> None:
    migrate(empty_db_url)
    newest = procrastinate_migrations()[-1]
    # Stand in for an install made before procrastinate shipped its newest migration; that
    # migration (03.04.00_50 in 3.10) drops what it creates, so applying it again is safe.
    with psycopg.connect(empty_db_url) as conn:
        conn.execute(f"DELETE FROM {PROCRASTINATE_LEDGER} WHERE name = %s", (newest,))

    result = migrate(empty_db_url)

    assert result.procrastinate_applied == [newest]
