"""Alembic revisions, applied in order by lab.db.migrate."""
