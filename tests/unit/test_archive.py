"""Session archives: round trip, wrong keys, tampering; the archive key file; the blob store factory."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from lab.config import Settings
from lab.storage.archive import (
    MAGIC,
    ArchiveError,
    SessionArchive,
    archive_blob_key,
    build_archive,
    key_fingerprint,
    open_archive,
    read_archive_header,
)
from lab.storage.blobs import LocalBlobStore
from lab.storage.factory import blob_store_from_settings
from lab.storage.keys import archive_key_path, load_or_create_archive_key
from lab.storage.s3 import S3BlobStore

CREATED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def sample() -> SessionArchive:
    return SessionArchive(
        session_id="5a4e0c1e-0000-4000-8000-000000000001",
        session={
            "session": {"site": "shop", "status": "done"},
            "events": [{"seq": i, "type": "click"} for i in range(50)],
        },
        training_jsonl='{"messages":[]}\n',
        screenshots={"3.webp": b"RIFF....WEBP" * 100, "9.webp": b"\x00\x01\x02"},
        snapshots={"4.html.gz": b"\x1f\x8b snapshot of the cart page"},
        audio={"1.webm": b"\x1a\x45\xdf\xa3 opus narration"},
    )


def test_archive_round_trip() -> None:
    key = Fernet.generate_key()
    data = build_archive(sample(), key, created_at=CREATED)
    opened = open_archive(data, key)
    assert opened == sample()


def test_header_is_readable_without_the_key_and_contents_are_not() -> None:
    key = Fernet.generate_key()
    data = build_archive(sample(), key, created_at=CREATED)
    header = read_archive_header(data)
    assert header.session_id == sample().session_id
    assert header.key_id == key_fingerprint(key)
    assert (header.compression, header.encryption, header.screenshot_count) == ("zstd", "fernet", 2)
    assert (header.format_version, header.snapshot_count, header.audio_count) == (2, 1, 1)
    assert header.created_at == CREATED.isoformat()
    assert b"shop" not in data and b"RIFF" not in data


def test_wrong_key_names_the_key_the_archive_needs() -> None:
    key = Fernet.generate_key()
    data = build_archive(sample(), key, created_at=CREATED)
    with pytest.raises(ArchiveError, match=key_fingerprint(key)):
        open_archive(data, Fernet.generate_key())


def test_tampered_body_is_rejected() -> None:
    key = Fernet.generate_key()
    data = bytearray(build_archive(sample(), key, created_at=CREATED))
    data[-40] ^= 0xFF
    with pytest.raises(ArchiveError):
        open_archive(bytes(data), key)


def test_a_version_1_archive_still_opens() -> None:
    """Archives written before snapshots and audio joined them (format 1: no such header fields)."""
    import json

    key = Fernet.generate_key()
    old = SessionArchive("s", {"session": {}}, "", {"1.webp": b"RIFF"})
    data = build_archive(old, key, created_at=CREATED)
    start = len(MAGIC) + 4
    length = int.from_bytes(data[len(MAGIC) : start], "big")
    header = json.loads(data[start : start + length])
    header["format_version"] = 1
    for newer in ("snapshot_count", "audio_count"):
        del header[newer]
    raw = json.dumps(header).encode()
    version_1 = MAGIC + len(raw).to_bytes(4, "big") + raw + data[start + length :]
    assert read_archive_header(version_1).format_version == 1
    assert open_archive(version_1, key) == old


def test_not_an_archive() -> None:
    with pytest.raises(ArchiveError, match="bad magic"):
        read_archive_header(b"PK\x03\x04 a zip file")


def test_screenshot_names_must_be_plain() -> None:
    archive = SessionArchive("s", {}, "", {"../escape.webp": b"x"})
    with pytest.raises(ValueError, match="plain file name"):
        build_archive(archive, Fernet.generate_key(), created_at=CREATED)


def test_archive_key_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", archive_key=None)
    key = load_or_create_archive_key(settings)
    path = archive_key_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_archive_key(settings) == key
    Fernet(key)
    assert [p.name for p in path.parent.iterdir()] == ["archive.key"]


def test_configured_archive_key_wins_and_bad_ones_are_named(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    assert load_or_create_archive_key(Settings(home=tmp_path, archive_key=key.decode())) == key
    assert not archive_key_path(Settings(home=tmp_path, archive_key=None)).exists()
    with pytest.raises(ValueError, match="CODESIGHT_ARCHIVE_KEY"):
        load_or_create_archive_key(Settings(home=tmp_path, archive_key="short"))


def test_archive_blob_key_sits_with_the_session() -> None:
    assert archive_blob_key("abc") == "sessions/abc/archive.tar.zst.enc"


def test_factory_picks_local_or_s3(tmp_path: Path) -> None:
    local = blob_store_from_settings(Settings(home=tmp_path, blob_dir=None, s3_bucket=None))
    assert isinstance(local, LocalBlobStore) and local.root == (tmp_path / "blobs").resolve()
    s3 = blob_store_from_settings(
        Settings(home=tmp_path, s3_bucket="b", s3_endpoint_url="http://127.0.0.1:1", s3_region="eu-west-1")
    )
    assert isinstance(s3, S3BlobStore)
    assert s3.storage_class_for(archive_blob_key("x")) == "INTELLIGENT_TIERING"
    assert s3.storage_class_for("sessions/x/screenshots/1.webp") == "STANDARD"
