"""Fixtures of the extension's end-to-end tests: one Chromium with the extension per module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.extension_session import Extension, chromium_with_extension


@pytest.fixture(scope="module")
async def extension(request: pytest.FixtureRequest) -> AsyncIterator[Extension]:
    """Chromium with the extension for the whole module; a module's `EXTENSION_OPTIONS` (the keyword
    arguments of chromium_with_extension) choose extra flags or real tab visibility."""
    options: dict[str, Any] = getattr(request.module, "EXTENSION_OPTIONS", {})
    async with chromium_with_extension(**options) as ext:
        yield ext


@pytest.fixture(autouse=True)
async def no_session_left_open(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """A failed test must not leave its session recording into the next one's (tests with the extension)."""
    ext: Extension | None = request.getfixturevalue("extension") if "extension" in request.fixturenames else None
    yield
    if ext is not None:
        await ext.discard_open_session()
