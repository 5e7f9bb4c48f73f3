"""Session quality: completeness, meaningful screenshots, selector reliability, one score."""

from lab.quality.score import ClickFacts, PageFacts, QualityComponent, QualityReport, SessionFacts, grade_session
from lab.quality.screenshots import ScreenshotStats, screenshot_stats

__all__ = [
    "ClickFacts",
    "PageFacts",
    "QualityComponent",
    "QualityReport",
    "ScreenshotStats",
    "SessionFacts",
    "grade_session",
    "screenshot_stats",
]
