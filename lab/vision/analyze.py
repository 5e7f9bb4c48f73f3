"""Which analyzer reads which step: OpenAI vision on key frames when there is a key, else the DOM analyzer.

Key frames are the before-click screenshots of clicks. Form steps, navigations and clicks
without a frame are read from the DOM, labelled `dom-heuristic`, with or without a key.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import openai

from lab.config import Settings
from lab.storage.blobs import BlobStore
from lab.vision.cache import VisionCache, image_sha256
from lab.vision.dom import dom_intent
from lab.vision.intent import DOM_HEURISTIC_SOURCE, ScreenInput, ScreenIntent
from lab.vision.openai_vision import OpenAIScreenAnalyzer, step_hint

if TYPE_CHECKING:
    import httpx2

# Frames analyzed at once: keeps a long session well inside per-minute rate limits.
VISION_CONCURRENCY = 4


@dataclass
class VisionStats:
    """What reading a session's steps cost: API calls, cache hits, DOM readings."""

    source: str
    api_calls: int = 0
    cache_hits: int = 0
    dom_readings: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IntentReader:
    """Reads the intent of steps; `vision` is None without an OpenAI key."""

    vision: OpenAIScreenAnalyzer | None = None
    cache: VisionCache | None = None
    stats: VisionStats = field(init=False)
    _slots: asyncio.Semaphore = field(init=False, default_factory=lambda: asyncio.Semaphore(VISION_CONCURRENCY))
    _frame_locks: defaultdict[str, asyncio.Lock] = field(init=False, default_factory=lambda: defaultdict(asyncio.Lock))

    def __post_init__(self) -> None:
        self.stats = VisionStats(source=self.vision.source if self.vision else DOM_HEURISTIC_SOURCE)

    def uses_vision(self, screen: ScreenInput) -> bool:
        return self.vision is not None and screen.action == "click" and bool(screen.image_webp)

    async def read(self, screen: ScreenInput) -> ScreenIntent:
        if self.vision is None or not self.uses_vision(screen):
            self.stats.dom_readings += 1
            return dom_intent(screen)
        assert screen.image_webp is not None
        sha, hint = image_sha256(screen.image_webp), step_hint(screen)
        # One request per frame even when two steps share it: the second waits and hits the cache.
        async with self._frame_locks[sha]:
            if self.cache is not None and (cached := await self.cache.get(sha, self.vision.source, hint)):
                self.stats.cache_hits += 1
                return cached
            async with self._slots:
                result = await self.vision.analyze(screen)
            self.stats.api_calls += 1
            if self.cache is not None:
                await self.cache.put(sha, hint, result)
            return result

    async def read_all(self, screens: Sequence[ScreenInput]) -> list[ScreenIntent]:
        return list(await asyncio.gather(*(self.read(screen) for screen in screens)))


@asynccontextmanager
async def intent_reader(
    settings: Settings, blobs: BlobStore, http_client: httpx2.AsyncClient | None = None
) -> AsyncIterator[IntentReader]:
    """An IntentReader for these settings: OpenAI vision (cached in `blobs`) when a key is set, else DOM only."""
    if not settings.openai_api_key:
        yield IntentReader()
        return
    client = openai.AsyncOpenAI(
        api_key=settings.openai_api_key, base_url=settings.openai_base_url, http_client=http_client
    )
    try:
        yield IntentReader(OpenAIScreenAnalyzer(client, settings.vision_model), VisionCache(blobs))
    finally:
        await client.close()
