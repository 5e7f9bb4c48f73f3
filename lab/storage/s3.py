"""An S3 (or S3-compatible) blob store: archives in Intelligent-Tiering, a lifecycle policy on the bucket."""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
from botocore.exceptions import ClientError

from lab.storage.blobs import BlobStat, PrefixDeletion, check_folder_prefix

# Archives are written once and read rarely, at unknown times: Intelligent-Tiering moves
# them to cheaper tiers by itself, with no retrieval fees
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intelligent-tiering-overview.html).
ARCHIVE_STORAGE_CLASS = "INTELLIGENT_TIERING"
DEFAULT_STORAGE_CLASS = "STANDARD"
# Loose screenshots, snapshots and audio are viewed in review during the first weeks, then hardly at all;
# they are deleted CODESIGHT_WORKING_COPY_DAYS after the archive (lab.storage.retention, which checks the
# archive first: a lifecycle expiration could not), so this moves only those kept longer than 30 days.
SCREENSHOT_TIERING_AFTER_DAYS = 30
# Uploads that never completed still cost storage until aborted.
ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS = 7
LIFECYCLE_RULES: list[dict[str, Any]] = [
    {
        "ID": "codesight-abort-incomplete-uploads",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS},
    },
    {
        "ID": "codesight-sessions-to-intelligent-tiering",
        "Status": "Enabled",
        "Filter": {"Prefix": "sessions/"},
        "Transitions": [{"Days": SCREENSHOT_TIERING_AFTER_DAYS, "StorageClass": ARCHIVE_STORAGE_CLASS}],
    },
]
# DeleteObjects takes at most 1,000 keys per request
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html); a ListObjectsV2 page holds as many.
DELETE_BATCH_KEYS = 1000
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3BlobStore:
    """Blobs as objects of one bucket; keys ending with one of `tiered_suffixes` go to Intelligent-Tiering.

    Credentials come from boto3's standard chain (environment, profile, instance role).
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        *,
        tiered_suffixes: tuple[str, ...] = (),
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.tiered_suffixes = tiered_suffixes
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    def storage_class_for(self, key: str) -> str:
        return (
            ARCHIVE_STORAGE_CLASS
            if key.endswith(self.tiered_suffixes) and self.tiered_suffixes
            else DEFAULT_STORAGE_CLASS
        )

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            StorageClass=self.storage_class_for(key),
        )

    async def get(self, key: str) -> bytes:
        try:
            response = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
                raise FileNotFoundError(f"s3://{self.bucket}/{key}") from exc
            raise
        body: bytes = await asyncio.to_thread(response["Body"].read)
        return body

    async def exists(self, key: str) -> bool:
        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
                return False
            raise
        return True

    async def stat(self, key: str) -> BlobStat | None:
        try:
            head = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
                return None
            raise
        return BlobStat(int(head.get("ContentLength", 0)), str(head.get("ETag", "")))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)

    def _list_sync(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys)

    async def list(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._list_sync, prefix)

    async def delete_prefix(self, prefix: str) -> PrefixDeletion:
        check_folder_prefix(prefix)
        return await asyncio.to_thread(self._delete_prefix_sync, prefix)

    def _delete_prefix_sync(self, prefix: str) -> PrefixDeletion:
        deleted: list[str] = []
        failed: dict[str, str] = {}
        size_bytes = 0
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": DELETE_BATCH_KEYS}
        )
        for page in pages:
            sizes = {item["Key"]: int(item.get("Size", 0)) for item in page.get("Contents", [])}
            keys = sorted(sizes)
            for start in range(0, len(keys), DELETE_BATCH_KEYS):
                batch = keys[start : start + DELETE_BATCH_KEYS]
                try:
                    response = self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": False}
                    )
                except ClientError as exc:  # the whole request refused (access, throttling): every key stays
                    error = exc.response.get("Error", {})
                    failed |= {key: f"{error.get('Code')}: {error.get('Message')}" for key in batch}
                    continue
                for item in response.get("Deleted", []):
                    deleted.append(item["Key"])
                    size_bytes += sizes.get(item["Key"], 0)
                for item in response.get("Errors", []):
                    failed[item["Key"]] = f"{item.get('Code')}: {item.get('Message')}"
        return PrefixDeletion(tuple(deleted), size_bytes, failed)

    async def ensure_bucket(self) -> None:
        """Create the bucket when missing and (re)apply the lifecycle rules; safe to call at every start."""
        await asyncio.to_thread(self._ensure_bucket_sync)

    def _ensure_bucket_sync(self) -> None:
        create: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            # us-east-1 is the default location and rejects an explicit constraint.
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**create)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        self.client.put_bucket_lifecycle_configuration(
            Bucket=self.bucket, LifecycleConfiguration={"Rules": LIFECYCLE_RULES}
        )
