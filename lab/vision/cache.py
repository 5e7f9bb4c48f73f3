"""Vision answers cached in the blob store by image hash: `vision-cache/<sha256 of the WebP>.json`.

A frame is analyzed once per model: re-running the training step (a retry, a new builder)
costs no API calls. An entry remembers the model and the step hint it was asked with, and
only answers a request with the same model and hint.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lab.storage.blobs import BlobStore
from lab.vision.intent import ScreenIntent

CACHE_PREFIX = "vision-cache/"


def image_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(sha256: str) -> str:
    return f"{CACHE_PREFIX}{sha256}.json"


class VisionCache:
    """sha256 of a frame → the vision answer for it, as JSON blobs."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    async def get(self, sha256: str, source: str, hint: str) -> ScreenIntent | None:
        """The cached answer for this frame from this source and hint, or None."""
        key = cache_key(sha256)
        if not await self.blobs.exists(key):
            return None
        entry: dict[str, Any] = json.loads(await self.blobs.get(key))
        if entry.get("source") != source or entry.get("hint") != hint:
            return None
        return ScreenIntent.from_dict(entry["result"])

    async def put(self, sha256: str, hint: str, result: ScreenIntent) -> None:
        entry = {"source": result.source, "hint": hint, "result": result.to_dict()}
        await self.blobs.put(cache_key(sha256), json.dumps(entry).encode(), content_type="application/json")
