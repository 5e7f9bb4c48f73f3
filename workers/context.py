"""What pipeline tasks run against in this process: one Database, one BlobStore and one replay browser.

The composition root (web/cli.py) hands in the ones it built with `set_resources`; a worker
started without that builds them from settings on first use (the blob store wrapped so that expired working copies
are read from their session's archive, lab.storage.fallback). Tests use `use_resources`. The
browser (lab.browser.SharedBrowser) launches on the first replay job, relaunches if it
crashed, and is closed by `close_browser` when the workers stop (workers.app.run_workers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from lab.browser import SharedBrowser
from lab.config import get_settings
from lab.db import Database
from lab.db.embedded import database_url
from lab.storage.blobs import BlobStore
from lab.storage.factory import blob_store_from_settings
from lab.storage.fallback import with_archive_fallback


@dataclass(frozen=True)
class WorkerResources:
    db: Database
    blobs: BlobStore
    browser: SharedBrowser = field(default_factory=SharedBrowser)


_current: WorkerResources | None = None


def set_resources(db: Database, blobs: BlobStore) -> None:
    """Use these for every task run in this process from now on."""
    global _current
    _current = WorkerResources(db, blobs)


def get_resources() -> WorkerResources:
    """The process's resources; when none were set, built from settings (database URL or embedded cluster)."""
    global _current
    if _current is None:
        settings = get_settings()
        blobs = with_archive_fallback(blob_store_from_settings(settings), settings)
        _current = WorkerResources(Database(database_url(settings)), blobs)
    return _current


@contextmanager
def use_resources(db: Database, blobs: BlobStore) -> Iterator[WorkerResources]:
    """Use these resources for the block, then restore the previous ones."""
    global _current
    previous, _current = _current, WorkerResources(db, blobs)
    try:
        yield _current
    finally:
        _current = previous


async def close_browser() -> None:
    """Close the current resources' replay browser, if one was launched (idempotent)."""
    if _current is not None:
        await _current.browser.close()
