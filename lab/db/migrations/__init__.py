"""Alembic environment and revisions of the CodeSight schema (configured by lab.db.migrate, no alembic.ini)."""
