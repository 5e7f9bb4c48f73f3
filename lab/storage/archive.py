"""One compressed, encrypted archive per session.

Layout of an archive file::

    MAGIC (8 bytes) | header length (4 bytes, big-endian) | header (JSON, not encrypted) | body

The body is a tar of `session.json`, `training.jsonl`, `screenshots/<name>` (WebP),
`snapshots/<name>` (the gzipped DOM snapshots replay and evaluation load) and `audio/<name>`
(the optional Opus/WebM narration): everything the session captured. It is compressed
with zstandard, then encrypted with Fernet (AES-128-CBC + HMAC-SHA256). The Fernet token is
stored base64-decoded to save the 33% base64 costs. The header carries what an operator
needs without the key: format version, session id, which key (by fingerprint), sizes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import zstandard
from cryptography.fernet import Fernet, InvalidToken

MAGIC = b"CSARCH1\n"
# 2 added snapshots/ and audio/ (and their counts in the header); version 1 archives still open.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
ARCHIVE_SUFFIX = ".tar.zst.enc"
# Screenshots are WebP already; level 10 squeezes the JSON well and stays fast.
ZSTD_LEVEL = 10
_HEADER_LENGTH_BYTES = 4

SESSION_MEMBER = "session.json"
TRAINING_MEMBER = "training.jsonl"
SCREENSHOTS_DIR = "screenshots/"
SNAPSHOTS_DIR = "snapshots/"
AUDIO_DIR = "audio/"


class ArchiveError(ValueError):
    """The bytes are not a CodeSight archive, or not one this key opens."""


def archive_blob_key(session_id: object) -> str:
    """Where a session's archive lives in the blob store, next to its screenshots."""
    return f"sessions/{session_id}/archive{ARCHIVE_SUFFIX}"


def key_fingerprint(key: bytes) -> str:
    """A short, non-secret name for a key, so an archive says which key opens it."""
    return hashlib.sha256(key).hexdigest()[:16]


@dataclass(frozen=True)
class SessionArchive:
    """The contents of one archive."""

    session_id: str
    session: Mapping[str, Any]
    training_jsonl: str = ""
    screenshots: Mapping[str, bytes] = field(default_factory=dict)
    snapshots: Mapping[str, bytes] = field(default_factory=dict)
    audio: Mapping[str, bytes] = field(default_factory=dict)

    def folders(self) -> dict[str, Mapping[str, bytes]]:
        """Each file folder of the tar and its files by plain name."""
        return {SCREENSHOTS_DIR: self.screenshots, SNAPSHOTS_DIR: self.snapshots, AUDIO_DIR: self.audio}


@dataclass(frozen=True)
class ArchiveHeader:
    format_version: int
    session_id: str
    created_at: str
    key_id: str
    compression: str
    encryption: str
    screenshot_count: int
    tar_bytes: int
    snapshot_count: int = 0
    audio_count: int = 0


def _tar_bytes(archive: SessionArchive, mtime: float) -> bytes:
    buffer = io.BytesIO()
    members: list[tuple[str, bytes]] = [
        (SESSION_MEMBER, json.dumps(archive.session, ensure_ascii=False, indent=1, default=str).encode()),
        (TRAINING_MEMBER, archive.training_jsonl.encode()),
    ]
    for folder, files in archive.folders().items():
        for name, data in sorted(files.items()):
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"{folder.rstrip('/')} file name must be a plain file name: {name!r}")
            members.append((folder + name, data))
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(mtime)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_archive(archive: SessionArchive, key: bytes, *, created_at: datetime) -> bytes:
    """The archive file's bytes: header, then the tar compressed and encrypted with `key`."""
    tar = _tar_bytes(archive, created_at.timestamp())
    token = Fernet(key).encrypt(zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(tar))
    header = ArchiveHeader(
        format_version=FORMAT_VERSION,
        session_id=archive.session_id,
        created_at=created_at.isoformat(),
        key_id=key_fingerprint(key),
        compression="zstd",
        encryption="fernet",
        screenshot_count=len(archive.screenshots),
        tar_bytes=len(tar),
        snapshot_count=len(archive.snapshots),
        audio_count=len(archive.audio),
    )
    header_bytes = json.dumps(asdict(header)).encode()
    return (
        MAGIC + len(header_bytes).to_bytes(_HEADER_LENGTH_BYTES, "big") + header_bytes + base64.urlsafe_b64decode(token)
    )


def _split(data: bytes) -> tuple[ArchiveHeader, bytes]:
    if not data.startswith(MAGIC):
        raise ArchiveError("not a CodeSight session archive (bad magic)")
    start = len(MAGIC) + _HEADER_LENGTH_BYTES
    header_length = int.from_bytes(data[len(MAGIC) : start], "big")
    try:
        header = ArchiveHeader(**json.loads(data[start : start + header_length]))
    except (ValueError, TypeError) as exc:
        raise ArchiveError(f"archive header is unreadable: {exc}") from exc
    if header.format_version not in READABLE_VERSIONS:
        raise ArchiveError(f"archive format {header.format_version} is not supported (readable: {READABLE_VERSIONS})")
    return header, data[start + header_length :]


def read_archive_header(data: bytes) -> ArchiveHeader:
    """The unencrypted header; no key needed."""
    return _split(data)[0]


def open_archive(data: bytes, key: bytes) -> SessionArchive:
    """Decrypt, decompress and unpack an archive made by `build_archive`."""
    header, body = _split(data)
    try:
        compressed = Fernet(key).decrypt(base64.urlsafe_b64encode(body))
    except InvalidToken as exc:
        hint = "" if header.key_id == key_fingerprint(key) else f" (archive was sealed with key {header.key_id})"
        raise ArchiveError(f"archive of session {header.session_id} cannot be decrypted with this key{hint}") from exc
    tar_bytes = zstandard.ZstdDecompressor().decompress(compressed, max_output_size=header.tar_bytes)
    session: Mapping[str, Any] = {}
    training_jsonl = ""
    files: dict[str, dict[str, bytes]] = {SCREENSHOTS_DIR: {}, SNAPSHOTS_DIR: {}, AUDIO_DIR: {}}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r") as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            if extracted is None:
                continue
            content = extracted.read()
            if member.name == SESSION_MEMBER:
                session = json.loads(content)
            elif member.name == TRAINING_MEMBER:
                training_jsonl = content.decode()
            else:
                folder, _, name = member.name.partition("/")
                if folder + "/" in files and name:
                    files[folder + "/"][name] = content
    return SessionArchive(
        session_id=header.session_id,
        session=session,
        training_jsonl=training_jsonl,
        screenshots=files[SCREENSHOTS_DIR],
        snapshots=files[SNAPSHOTS_DIR],
        audio=files[AUDIO_DIR],
    )
