"""Blob stores, session archives, encryption at rest."""

from lab.storage.archive import SessionArchive, archive_blob_key, build_archive, open_archive
from lab.storage.blobs import BlobStore, LocalBlobStore
from lab.storage.factory import blob_store_from_settings
from lab.storage.fallback import ArchiveBackedBlobStore, with_archive_fallback
from lab.storage.keys import load_or_create_archive_key
from lab.storage.s3 import S3BlobStore

__all__ = [
    "ArchiveBackedBlobStore",
    "BlobStore",
    "LocalBlobStore",
    "S3BlobStore",
    "SessionArchive",
    "archive_blob_key",
    "blob_store_from_settings",
    "build_archive",
    "load_or_create_archive_key",
    "open_archive",
    "with_archive_fallback",
]
