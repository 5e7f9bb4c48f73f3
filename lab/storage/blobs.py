"""Blob stores: a local folder by default, S3 (Intelligent-Tiering) in production."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class PrefixDeletion:
    """What deleting every blob under a prefix did: the keys gone, the bytes they held, and the keys
    that could not be deleted (key -> the store's reason), which are still there."""

    deleted: tuple[str, ...] = ()
    size_bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BlobStat:
    """A stored blob's size and a token that changes whenever the blob is written again."""

    size_bytes: int
    version: str


def check_folder_prefix(prefix: str) -> None:
    """A prefix to delete under must name a folder (`sessions/<id>/`): never everything, never a name's start."""
    if not prefix.strip("/") or not prefix.endswith("/"):
        raise ValueError(f"prefix: must be a non-empty folder ending with '/', not {prefix!r}")


class BlobStore(Protocol):
    """Where screenshots and session archives live; keys are `/`-separated paths."""

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def stat(self, key: str) -> BlobStat | None:
        """Size and version of a blob, None when there is none (one HEAD, no body)."""
        ...

    async def delete(self, key: str) -> None: ...

    async def list(self, prefix: str) -> list[str]: ...

    async def delete_prefix(self, prefix: str) -> PrefixDeletion:
        """Delete every blob whose key starts with `prefix` (a folder, ending with `/`); a key that
        cannot be deleted is reported in `failed`, not raised, so the others still go."""
        ...


class LocalBlobStore:
    """Blobs as files under one folder; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(self._put_sync, key, data)

    def _put_sync(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def stat(self, key: str) -> BlobStat | None:
        try:
            info = self._path(key).stat()
        except FileNotFoundError:
            return None
        # Every put replaces the file (rename), so size and mtime change together with the content.
        return BlobStat(info.st_size, f"{info.st_ino}-{info.st_mtime_ns}")

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    async def delete_prefix(self, prefix: str) -> PrefixDeletion:
        check_folder_prefix(prefix)
        return await asyncio.to_thread(self._delete_prefix_sync, prefix)

    def _delete_prefix_sync(self, prefix: str) -> PrefixDeletion:
        base = self._path(prefix)
        if not base.is_dir():
            return PrefixDeletion()
        deleted: list[str] = []
        failed: dict[str, str] = {}
        size_bytes = 0
        # Temp files of an interrupted put hold the same data: they go too.
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            key = str(path.relative_to(self.root))
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError as exc:
                failed[key] = f"{type(exc).__name__}: {exc}"
                continue
            deleted.append(key)
            size_bytes += size
        for folder in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # still holds a file that failed above: reported there
                folder.rmdir()
        with contextlib.suppress(OSError):
            base.rmdir()
        return PrefixDeletion(tuple(deleted), size_bytes, failed)
