"""Binary payloads of wire events (screenshots, DOM snapshots, audio): decoding, checks, blob keys.

Each arrives as a data URL inside its event and is stored in the blob store; the event's
stored payload keeps the key instead of the bytes.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import uuid
import zlib

from lab.privacy.scrub import ScrubReport, scrub_text

WEBP_MAGIC = (b"RIFF", b"WEBP")
GZIP_MAGIC = b"\x1f\x8b"
# WebM is Matroska: an EBML header.
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
# A snapshot that inflates beyond this is refused rather than scanned (a gzip bomb, or not a page).
MAX_SNAPSHOT_HTML_BYTES = 64_000_000


def screenshot_key(session_id: uuid.UUID, seq: int) -> str:
    return f"sessions/{session_id}/screenshots/{seq}.webp"


def snapshot_key(session_id: uuid.UUID, seq: int) -> str:
    return f"sessions/{session_id}/snapshots/{seq}.html.gz"


def audio_key(session_id: uuid.UUID, seq: int) -> str:
    return f"sessions/{session_id}/audio/{seq}.webm"


def _data_url_bytes(data_url: str, field: str) -> bytes:
    try:
        return base64.b64decode(data_url.split(",", 1)[1], validate=True)
    except (binascii.Error, IndexError) as exc:
        raise ValueError(f"{field}: not valid base64") from exc


def decode_webp(data_url: str) -> bytes:
    """The bytes of a `data:image/webp;base64,` URL; ValueError when it is not a WebP."""
    data = _data_url_bytes(data_url, "image")
    if data[:4] != WEBP_MAGIC[0] or data[8:12] != WEBP_MAGIC[1]:
        raise ValueError("image: not a WebP file")
    return data


def decode_webm(data_url: str) -> bytes:
    """The bytes of a `data:audio/webm;base64,` URL; ValueError when it is not WebM."""
    data = _data_url_bytes(data_url, "data")
    if data[:4] != EBML_MAGIC:
        raise ValueError("data: not a WebM file")
    return data


def inflate_snapshot(data: bytes) -> str:
    """The HTML of a gzip snapshot; ValueError when it is not gzip or inflates too far."""
    if data[:2] != GZIP_MAGIC:
        raise ValueError("data: not a gzip file")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        html = inflater.decompress(data, MAX_SNAPSHOT_HTML_BYTES)
    except zlib.error as exc:
        raise ValueError(f"data: broken gzip stream ({exc})") from exc
    if inflater.unconsumed_tail:
        raise ValueError(f"data: the snapshot inflates beyond {MAX_SNAPSHOT_HTML_BYTES} bytes")
    return html.decode("utf-8", errors="replace")


def decode_snapshot(data_url: str, report: ScrubReport) -> bytes:
    """The gzip bytes to store for a snapshot, scrubbed of personal patterns the browser missed."""
    data = _data_url_bytes(data_url, "data")
    html = inflate_snapshot(data)
    before = sum(report.counts.values())
    clean = scrub_text(html, report)
    if sum(report.counts.values()) == before:
        return data
    return gzip.compress(clean.encode("utf-8"), mtime=0)
