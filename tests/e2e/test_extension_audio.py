"""Optional audio, turned on the way a participant does it: the popup's microphone box, a session
of a few seconds, stop. Chromium's fake capture device (a beeping tone) stands in for the
microphone and --use-fake-ui-for-media-stream answers the permission prompt, so the popup sees
the microphone as granted and the offscreen recorder's getUserMedia succeeds headless. Exactly
one audio file arrives, Opus in WebM, and it is the only media besides the WebP screenshots.
Without the box, there is no offscreen recorder and no audio at all."""

from __future__ import annotations

import gzip
import time

from playwright.async_api import Page, expect

from lab.sites import load_site, page_url, serve_site
from tests.conftest import LiveServer
from tests.e2e.extension_session import SHOP, Extension, of_type, stored_events

FAKE_MEDIA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
RECORD_S = 4
# Matroska/WebM files start with the EBML magic; the track's codec id names Opus.
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
# extension/offscreen.js records at 24 kbit/s; a few seconds of the fake device's tone are
# several kB. Far less would mean an empty or header-only file.
MIN_AUDIO_BYTES_PER_S = 1_000


EXTENSION_OPTIONS = {"extra_args": FAKE_MEDIA}


async def offscreen_documents(extension: Extension) -> list[object]:
    contexts: list[object] = await extension.call("chrome.runtime.getContexts({contextTypes: ['OFFSCREEN_DOCUMENT']})")
    return contexts


async def start_from_popup(extension: Extension, server: LiveServer, *, audio: bool) -> tuple[Page, str]:
    """The participant (who agreed and allowed the shop's host before) starts a session in the popup."""
    await extension.call("codesight.giveConsent()")
    await extension.call("chrome.storage.local.set({allowlist: ['127.0.0.1']})")
    worker = await extension.worker()
    popup = await extension.new_tab()
    await popup.goto(worker.url.replace("background.js", "popup.html"))
    await popup.locator("#server").fill(server.url)
    await popup.locator("#token").fill(server.participant_token)
    await popup.locator("#site").fill("shop")
    await expect(popup.locator("#audio")).not_to_be_checked()  # off by default, every time
    if audio:
        await popup.locator("#audio").check()
    await popup.locator("#start").click()
    await expect(popup.locator("#state")).to_have_text("recording")
    return popup, str((await extension.status())["sessionId"])


async def stop_from_popup(popup: Page) -> None:
    await popup.bring_to_front()
    await popup.locator("#stop").click()
    await expect(popup.locator("#state")).to_have_text("idle", timeout=30_000)


def media_kind(data: bytes) -> str:
    """What a stored blob is, by its magic bytes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] == EBML_MAGIC:
        return "webm"
    if data[:2] == b"\x1f\x8b":
        return "html.gz" if gzip.decompress(data).lstrip()[:1] == b"<" else "gzip"
    return f"unknown {data[:8].hex()}"


async def test_audio_turned_on_in_the_popup_is_one_opus_webm_file_and_the_only_media(
    live_server: LiveServer, extension: Extension
) -> None:
    async with serve_site(load_site(SHOP)) as base:
        shop = await extension.new_tab()
        await shop.goto(page_url(base, "v1", "index.html"))
        popup, session_id = await start_from_popup(extension, live_server, audio=True)
        assert len(await offscreen_documents(extension)) == 1, "the offscreen recorder runs"
        started = time.monotonic()
        await shop.bring_to_front()
        await shop.locator("[data-lab-id=accept-cookies]").click()
        await shop.locator("[data-lab-id=product-link-4]").click()
        await shop.wait_for_timeout(max(0, RECORD_S - (time.monotonic() - started)) * 1000)
        await stop_from_popup(popup)
        await expect(popup.locator("#last-session")).to_contain_text("1 audio clip")
        assert await offscreen_documents(extension) == [], "the microphone is released on stop"
        await shop.close()
        await popup.close()

    events = await stored_events(live_server.services.db, session_id)
    (audio,) = of_type(events, "audio")
    assert audio.payload["mime"] == "audio/webm;codecs=opus" and "data" not in audio.payload
    assert audio.payload["duration_ms"] >= (RECORD_S - 1) * 1000
    keys = await live_server.services.blobs.list(f"sessions/{session_id}/")
    kinds = {key: media_kind(await live_server.services.blobs.get(key)) for key in keys}
    assert [key for key, kind in kinds.items() if kind == "webm"] == [audio.payload["blob_key"]]
    assert set(kinds.values()) == {"webp", "html.gz", "webm"}, "only WebP screenshots, DOM snapshots and the audio"
    assert all(key.endswith("." + kind) for key, kind in kinds.items()), kinds
    data = await live_server.services.blobs.get(audio.payload["blob_key"])
    assert data[:4] == EBML_MAGIC and b"webm" in data[:64], "a WebM file"
    assert b"A_OPUS" in data and b"V_VP" not in data and b"V_AV1" not in data, "one Opus track, no video"
    assert len(data) == audio.payload["blob_bytes"] >= MIN_AUDIO_BYTES_PER_S * audio.payload["duration_ms"] / 1000
    print(f"audio: {len(data)} bytes for {audio.payload['duration_ms']} ms")


async def test_audio_is_off_unless_turned_on(live_server: LiveServer, extension: Extension) -> None:
    async with serve_site(load_site(SHOP)) as base:
        shop = await extension.new_tab()
        await shop.goto(page_url(base, "v1", "index.html"))
        popup, session_id = await start_from_popup(extension, live_server, audio=False)
        recorder_pages = await offscreen_documents(extension)
        await shop.bring_to_front()
        await shop.locator("[data-lab-id=accept-cookies]").click()
        await shop.wait_for_timeout(1500)
        await stop_from_popup(popup)
        await shop.close()
        await popup.close()
    assert recorder_pages == []
    assert of_type(await stored_events(live_server.services.db, session_id), "audio") == []
    keys = await live_server.services.blobs.list(f"sessions/{session_id}/")
    assert keys and not any(key.endswith(".webm") for key in keys)
