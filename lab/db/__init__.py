"""Tables, engine, migrations and the embedded Postgres cluster."""

from lab.db.engine import Database, async_url, plain_url

__all__ = ["Database", "async_url", "plain_url"]
