"""S3BlobStore against a real S3 API (moto's server over HTTP): objects, storage classes, lifecycle."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from cryptography.fernet import Fernet
from moto.server import ThreadedMotoServer

from lab.storage.archive import ARCHIVE_SUFFIX, SessionArchive, archive_blob_key, build_archive
from lab.storage.fallback import ArchiveBackedBlobStore
from lab.storage.s3 import LIFECYCLE_RULES, S3BlobStore

REGION = "eu-west-1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials through boto3's own chain, as production passes real ones."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
async def store(s3_endpoint: str, aws_credentials: None, request: pytest.FixtureRequest) -> S3BlobStore:
    bucket = "codesight-" + request.node.name.replace("_", "-")[:40].lower()
    store = S3BlobStore(bucket, endpoint_url=s3_endpoint, region=REGION, tiered_suffixes=(ARCHIVE_SUFFIX,))
    await store.ensure_bucket()
    return store


def _head(store: S3BlobStore, key: str) -> dict[str, Any]:
    head: dict[str, Any] = store.client.head_object(Bucket=store.bucket, Key=key)
    return head


async def test_put_get_exists_list_delete(store: S3BlobStore) -> None:
    await store.put("sessions/a/screenshots/1.webp", b"one", "image/webp")
    await store.put("sessions/a/screenshots/2.webp", b"two", "image/webp")
    await store.put("sessions/b/screenshots/1.webp", b"other")

    assert await store.get("sessions/a/screenshots/2.webp") == b"two"
    assert await store.exists("sessions/a/screenshots/1.webp")
    assert not await store.exists("sessions/a/screenshots/3.webp")
    assert await store.list("sessions/a/") == ["sessions/a/screenshots/1.webp", "sessions/a/screenshots/2.webp"]
    assert _head(store, "sessions/a/screenshots/1.webp")["ContentType"] == "image/webp"

    await store.delete("sessions/a/screenshots/1.webp")
    assert await store.list("sessions/a/") == ["sessions/a/screenshots/2.webp"]


async def test_missing_key_raises_file_not_found(store: S3BlobStore) -> None:
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        await store.get("nothing-here")


async def test_list_pages_through_many_objects(store: S3BlobStore) -> None:
    keys = [f"many/{i:04d}" for i in range(1005)]
    for key in keys:
        await store.put(key, b"x")
    assert await store.list("many/") == keys


async def test_archives_go_to_intelligent_tiering_and_screenshots_stay_standard(store: S3BlobStore) -> None:
    await store.put(archive_blob_key("s1"), b"sealed")
    await store.put("sessions/s1/screenshots/1.webp", b"img")

    assert _head(store, archive_blob_key("s1"))["StorageClass"] == "INTELLIGENT_TIERING"
    # S3 leaves StorageClass out of the response for STANDARD objects.
    assert _head(store, "sessions/s1/screenshots/1.webp").get("StorageClass", "STANDARD") == "STANDARD"


async def test_ensure_bucket_sets_the_lifecycle_and_can_run_again(store: S3BlobStore) -> None:
    await store.ensure_bucket()

    rules = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
    assert {rule["ID"] for rule in rules} == {rule["ID"] for rule in LIFECYCLE_RULES}
    tiering = next(rule for rule in rules if rule["ID"] == "codesight-sessions-to-intelligent-tiering")
    assert tiering["Transitions"][0]["StorageClass"] == "INTELLIGENT_TIERING"
    location = store.client.get_bucket_location(Bucket=store.bucket)["LocationConstraint"]
    assert location == REGION


async def test_bucket_in_the_default_region(s3_endpoint: str, aws_credentials: None) -> None:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    store = S3BlobStore("codesight-default-region", endpoint_url=s3_endpoint, client=client)
    await store.ensure_bucket()
    await store.put("k", b"v")
    assert await store.get("k") == b"v"


async def test_delete_prefix_removes_a_folder_in_batches_and_nothing_beside_it(store: S3BlobStore) -> None:
    # 1,003 keys: two list pages and two DeleteObjects requests (at most 1,000 keys each).
    keys = [f"sessions/x/screenshots/{i:04d}.webp" for i in range(1003)]
    for key in keys:
        await store.put(key, b"abc")
    await store.put("sessions/xy/screenshots/1.webp", b"neighbour")
    await store.put("sessions/y/archive.tar.zst.enc", b"other")

    deletion = await store.delete_prefix("sessions/x/")

    assert sorted(deletion.deleted) == keys and deletion.failed == {}
    assert deletion.size_bytes == 3 * len(keys)
    assert await store.list("sessions/") == ["sessions/xy/screenshots/1.webp", "sessions/y/archive.tar.zst.enc"]
    assert (await store.delete_prefix("sessions/x/")).deleted == ()
    for bad in ("", "/", "sessions/x"):
        with pytest.raises(ValueError, match="prefix"):
            await store.delete_prefix(bad)


async def test_a_gone_working_copy_is_read_from_the_archive_in_the_bucket(store: S3BlobStore) -> None:
    key = Fernet.generate_key()
    archive = SessionArchive("s1", {}, screenshots={"1.webp": b"shot"}, snapshots={"2.html.gz": b"snap"})
    await store.put(archive_blob_key("s1"), build_archive(archive, key, created_at=datetime.now(UTC)))
    blobs = ArchiveBackedBlobStore(store, lambda: key)

    assert await blobs.get("sessions/s1/screenshots/1.webp") == b"shot"
    assert await blobs.exists("sessions/s1/snapshots/2.html.gz")
    assert await blobs.list("sessions/s1/") == [
        archive_blob_key("s1"),
        "sessions/s1/screenshots/1.webp",
        "sessions/s1/snapshots/2.html.gz",
    ]
    stat = await store.stat(archive_blob_key("s1"))
    assert stat is not None and stat.size_bytes > 0 and stat.version
    assert await store.stat("sessions/s1/screenshots/1.webp") is None
    with pytest.raises(FileNotFoundError):
        await blobs.get("sessions/s1/audio/3.webm")
    with pytest.raises(FileNotFoundError):
        await blobs.get("sessions/s2/screenshots/1.webp")
