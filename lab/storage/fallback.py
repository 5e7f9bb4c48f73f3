"""A blob store that answers for a session's expired working copies from the session's archive.

While a session is processed its files are loose blobs (`sessions/<id>/screenshots/<seq>.webp`,
`snapshots/<seq>.html.gz`, `audio/<seq>.webm`); once archived they expire after
`CODESIGHT_WORKING_COPY_DAYS` (lab.storage.retention) and only the archive remains. Readers (the
dashboard, evaluation, a re-run pipeline step, erasure) keep asking for the loose keys: this wrapper
serves a missing one from the archive, so they never notice. Writes and deletes go to the inner store.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import structlog

from lab.config import Settings, get_settings
from lab.storage.archive import (
    AUDIO_DIR,
    SCREENSHOTS_DIR,
    SNAPSHOTS_DIR,
    ArchiveError,
    SessionArchive,
    archive_blob_key,
    open_archive,
)
from lab.storage.blobs import BlobStat, BlobStore, PrefixDeletion
from lab.storage.keys import load_or_create_archive_key

log = structlog.get_logger(__name__)

# A session page shows up to a few dozen screenshots of one session; evaluation walks sessions one
# by one. A few decrypted archives (each the size of a session's files) cover both.
ARCHIVES_KEPT = 4
SESSIONS_PREFIX = "sessions/"
# The folders of a session that are working copies, as the archive names them (lab.storage.archive).
WORKING_COPY_FOLDERS = (SCREENSHOTS_DIR, SNAPSHOTS_DIR, AUDIO_DIR)
_FOLDER_ALTERNATIVES = "|".join(map(re.escape, WORKING_COPY_FOLDERS))
_WORKING_COPY_KEY = re.compile(rf"^sessions/(?P<session>[^/]+)/(?P<folder>{_FOLDER_ALTERNATIVES})(?P<name>[^/]+)$")
_SESSION_PREFIX = re.compile(r"^sessions/(?P<session>[^/]+)/")


@dataclass(frozen=True)
class WorkingCopy:
    """Where a loose session file sits in its archive."""

    session_id: str
    folder: str
    name: str


def working_copy(key: str) -> WorkingCopy | None:
    """The session, archive folder and file name of a working-copy key; None for any other key."""
    match = _WORKING_COPY_KEY.match(key)
    if match is None:
        return None
    return WorkingCopy(match["session"], match["folder"], match["name"])


class ArchiveBackedBlobStore:
    """`inner`, plus: a working copy that is gone is read from its session's archive.

    `get` and `exists` of a missing working copy open the archive (decrypted off the event loop with
    the key from `key_loader`, the last ARCHIVES_KEPT kept in memory by archive version); `list` of a
    prefix inside one session's folder adds the working copies its archive holds. Any other missing
    key, or a session without an archive, is FileNotFoundError as before; an archive that exists but
    does not open raises ArchiveError.
    """

    def __init__(self, inner: BlobStore, key_loader: Callable[[], bytes], archives_kept: int = ARCHIVES_KEPT) -> None:
        self.inner = inner
        self._key_loader = key_loader
        self._archives_kept = archives_kept
        self._archives: OrderedDict[tuple[str, int, str], SessionArchive] = OrderedDict()
        self._opening: dict[tuple[str, int, str], asyncio.Future[SessionArchive]] = {}

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await self.inner.put(key, data, content_type)

    async def get(self, key: str) -> bytes:
        try:
            return await self.inner.get(key)
        except FileNotFoundError:
            copy = working_copy(key)
            if copy is None:
                raise
            archive = await self.archive(copy.session_id)
            files = archive.folders()[copy.folder] if archive is not None else {}
            if copy.name not in files:
                raise
            return files[copy.name]

    async def exists(self, key: str) -> bool:
        if await self.inner.exists(key):
            return True
        copy = working_copy(key)
        if copy is None:
            return False
        archive = await self.archive(copy.session_id)
        return archive is not None and copy.name in archive.folders()[copy.folder]

    async def stat(self, key: str) -> BlobStat | None:
        return await self.inner.stat(key)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)
        self._forget(key)

    async def list(self, prefix: str) -> list[str]:
        keys = await self.inner.list(prefix)
        match = _SESSION_PREFIX.match(prefix)
        if match is None:
            return keys
        try:
            archive = await self.archive(match["session"])
        except ArchiveError as exc:
            # The loose files are what is really there; a read of an expired one will raise the same error.
            log.warning("blobs.archive_unreadable", session_id=match["session"], prefix=prefix, error=str(exc))
            return keys
        if archive is None:
            return keys
        base = f"{SESSIONS_PREFIX}{match['session']}/"
        archived = {base + folder + name for folder, files in archive.folders().items() for name in files}
        return sorted({*keys, *(key for key in archived if key.startswith(prefix))})

    async def delete_prefix(self, prefix: str) -> PrefixDeletion:
        deletion = await self.inner.delete_prefix(prefix)
        self._forget(prefix)
        return deletion

    def _forget(self, key_or_prefix: str) -> None:
        """Drop opened archives that a delete covered: an erased session's files leave memory too."""
        for version in [v for v in self._archives if archive_blob_key(v[0]).startswith(key_or_prefix)]:
            del self._archives[version]

    async def archive(self, session_id: str) -> SessionArchive | None:
        """The session's opened archive, None when it has none; opened once per archive version."""
        blob_key = archive_blob_key(session_id)
        stat = await self.inner.stat(blob_key)
        if stat is None:
            return None
        version = (session_id, stat.size_bytes, stat.version)
        cached = self._archives.get(version)
        if cached is not None:
            self._archives.move_to_end(version)
            return cached
        opening = self._opening.get(version)
        if opening is None:  # the first of many concurrent readers opens it; the others wait for it
            opening = asyncio.ensure_future(self._open(blob_key))
            self._opening[version] = opening
            opening.add_done_callback(lambda _: self._opening.pop(version, None))
        archive = await asyncio.shield(opening)
        self._archives[version] = archive
        self._archives.move_to_end(version)
        while len(self._archives) > self._archives_kept:
            self._archives.popitem(last=False)
        return archive

    async def _open(self, blob_key: str) -> SessionArchive:
        data = await self.inner.get(blob_key)
        key = await asyncio.to_thread(self._key_loader)
        archive = await asyncio.to_thread(open_archive, data, key)
        log.info("blobs.archive_opened", key=blob_key, size_bytes=len(data))
        return archive


def with_archive_fallback(inner: BlobStore, settings: Settings | None = None) -> ArchiveBackedBlobStore:
    """`inner` wrapped for the composition roots; the archive key comes from `settings` (default: the
    process's settings when an archive is first opened)."""
    loader = (
        partial(load_or_create_archive_key, settings)
        if settings is not None
        else lambda: load_or_create_archive_key(get_settings())
    )
    return ArchiveBackedBlobStore(inner, loader)
