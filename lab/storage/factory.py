"""The blob store the settings ask for."""

from __future__ import annotations

from lab.config import Settings
from lab.storage.archive import ARCHIVE_SUFFIX
from lab.storage.blobs import BlobStore, LocalBlobStore
from lab.storage.s3 import S3BlobStore


def blob_store_from_settings(settings: Settings) -> BlobStore:
    """S3 when `CODESIGHT_S3_BUCKET` is set (archives in Intelligent-Tiering), else a local folder."""
    if settings.s3_bucket:
        return S3BlobStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            tiered_suffixes=(ARCHIVE_SUFFIX,),
        )
    return LocalBlobStore(settings.blob_root)
