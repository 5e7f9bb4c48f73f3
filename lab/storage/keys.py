"""The archive encryption key: from settings, or created once under the state folder."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet

from lab.config import Settings

ARCHIVE_KEY_FILE = "archive.key"


def archive_key_path(settings: Settings) -> Path:
    return settings.home / ARCHIVE_KEY_FILE


def load_or_create_archive_key(settings: Settings) -> bytes:
    """`settings.archive_key` when set, else `<home>/archive.key`, created (mode 0600) on first use.

    Raises ValueError naming the setting when the configured key is not a Fernet key.
    """
    if settings.archive_key:
        key = settings.archive_key.strip().encode("ascii")
        _check_key(key, "CODESIGHT_ARCHIVE_KEY")
        return key
    path = archive_key_path(settings)
    if not path.exists():
        _create_key_file(path)
    key = path.read_bytes().strip()
    _check_key(key, str(path))
    return key


def _create_key_file(path: Path) -> None:
    """Write a new key next to `path` (mode 0600) and link it into place unless another process won."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(Fernet.generate_key() + b"\n")
    try:
        # link() fails when the key exists: when two workers start at once, exactly one key wins.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def _check_key(key: bytes, where: str) -> None:
    try:
        Fernet(key)
    except ValueError as exc:
        raise ValueError(f"{where}: not a Fernet key (32 url-safe base64-encoded bytes): {exc}") from exc
