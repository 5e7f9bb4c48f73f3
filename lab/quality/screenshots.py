"""Is a screenshot worth training on? Blank, uniform or half-painted frames are not."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageStat

# Frames are judged on a small grey copy: cheap, and blankness does not depend on resolution.
ANALYSIS_WIDTH_PX = 256
# Below this Shannon entropy (bits per pixel of the 256-level grey histogram) a frame is
# nearly one colour: a white page before paint, a spinner on a flat background.
MIN_ENTROPY_BITS = 1.0
# Below this grey-level standard deviation there is no legible structure (text, edges).
MIN_STDDEV = 8.0


@dataclass(frozen=True)
class ScreenshotStats:
    """What a frame's pixels say; `decodable` is False when the bytes are not an image."""

    entropy_bits: float
    stddev: float
    width: int
    height: int
    decodable: bool = True

    @property
    def meaningful(self) -> bool:
        return self.decodable and self.entropy_bits >= MIN_ENTROPY_BITS and self.stddev >= MIN_STDDEV


UNDECODABLE = ScreenshotStats(entropy_bits=0.0, stddev=0.0, width=0, height=0, decodable=False)


def histogram_entropy_bits(histogram: list[int]) -> float:
    total = sum(histogram)
    if total == 0:
        return 0.0
    return -sum((n / total) * math.log2(n / total) for n in histogram if n)


def screenshot_stats(image_bytes: bytes) -> ScreenshotStats:
    """Entropy and contrast of an encoded image (WebP from the extension; any Pillow format works)."""
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            width, height = image.size
            grey = image.convert("L")
    except (OSError, ValueError, Image.DecompressionBombError):
        # Not an image at all is a quality finding about the capture, not a pipeline error.
        return UNDECODABLE
    if grey.width > ANALYSIS_WIDTH_PX:
        grey = grey.resize((ANALYSIS_WIDTH_PX, max(1, round(grey.height * ANALYSIS_WIDTH_PX / grey.width))))
    return ScreenshotStats(
        entropy_bits=histogram_entropy_bits(grey.histogram()),
        stddev=ImageStat.Stat(grey).stddev[0],
        width=width,
        height=height,
    )
