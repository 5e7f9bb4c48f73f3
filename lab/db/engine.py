"""The async engine and unit-of-work sessions over the one Postgres database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of a plain `postgresql://` URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def plain_url(url: str) -> str:
    """The libpq form (`postgresql://`) of a SQLAlchemy URL, for psycopg and procrastinate."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(async_url(url), pool_size=pool_size, max_overflow=10, pool_pre_ping=True)


class Database:
    """An engine plus a session factory; one per process."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = plain_url(url)
        self.engine = make_engine(url, pool_size=pool_size)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends normally, rolled back otherwise."""
        async with self._sessions() as s:
            try:
                yield s
                await s.commit()
            except BaseException:
                await s.rollback()
                raise

    async def ping(self) -> None:
        """One round trip to the database; raises when it does not answer."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


# Errors that mean "the database cannot be reached or stopped answering", not "the query was wrong":
# a client may try again later. SQLAlchemy wraps most driver errors; a refused connection can surface
# as the driver's own error or as an OSError.
_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # no connection free in the pool in time
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    psycopg.OperationalError,
    ConnectionError,
)


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says the database is unreachable or overloaded."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:  # a chain may loop back on itself
        chain.append(current)
        current = current.__cause__ or current.__context__
    return any(isinstance(link, _UNAVAILABLE) for link in chain)
