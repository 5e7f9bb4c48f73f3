"""Quality grading over plain facts, and screenshot statistics on generated WebP frames (no I/O)."""

from __future__ import annotations

import io
import random
import uuid
from datetime import UTC, datetime

import pytest
from PIL import Image, ImageDraw

from lab.db.models import Event, Page, ReplayResult, Screenshot, SelectorCandidate, Session
from lab.pipeline.assemble import candidate_reliability, session_facts
from lab.pipeline.rows import SessionRows
from lab.quality.score import (
    COMPLETENESS_WEIGHT,
    RELIABILITY_WEIGHT,
    SCREENSHOTS_WEIGHT,
    ClickFacts,
    PageFacts,
    SessionFacts,
    grade_session,
    missing_seqs,
)
from lab.quality.screenshots import ScreenshotStats, screenshot_stats


def webp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="WEBP", quality=80)
    return out.getvalue()


def page_like_frame() -> Image.Image:
    """A white page with a header bar, lines of 'text' and a button."""
    image = Image.new("RGB", (800, 500), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 800, 60), fill=(30, 60, 120))
    rng = random.Random(4)
    for row in range(12):
        y = 90 + row * 28
        draw.rectangle((40, y, 40 + rng.randint(200, 700), y + 10), fill=(40, 40, 40))
    draw.rectangle((600, 420, 760, 470), fill=(200, 80, 20))
    return image


GOOD = ScreenshotStats(entropy_bits=3.0, stddev=60.0, width=800, height=500)
BLANK = ScreenshotStats(entropy_bits=0.0, stddev=0.0, width=800, height=500)


def test_uniform_frame_is_not_meaningful_and_page_is() -> None:
    blank = screenshot_stats(webp(Image.new("RGB", (800, 500), "white")))
    page = screenshot_stats(webp(page_like_frame()))
    assert not blank.meaningful and blank.entropy_bits < 0.5
    assert page.meaningful and page.stddev > 20
    assert (page.width, page.height) == (800, 500)


def test_bytes_that_are_no_image_are_reported_not_raised() -> None:
    stats = screenshot_stats(b"not an image")
    assert not stats.decodable and not stats.meaningful


def perfect_facts(**overrides: object) -> SessionFacts:
    fields: dict[str, object] = {
        "event_seqs": list(range(10)),
        "pages": [PageFacts(0, True), PageFacts(5, True)],
        "clicks": [ClickFacts(seq, frozenset({"testid", "role", "css"}), 1.0) for seq in (2, 3, 7)],
        "screenshots": [GOOD, GOOD],
        "ended": True,
    }
    fields.update(overrides)
    return SessionFacts(**fields)  # type: ignore[arg-type]


def test_perfect_session_scores_100_without_feedback() -> None:
    report = grade_session(perfect_facts())
    assert report.score == 100.0
    assert report.feedback == ()
    assert {c.name: c.weight for c in report.components} == {
        "completeness": COMPLETENESS_WEIGHT,
        "selector_reliability": RELIABILITY_WEIGHT,
        "screenshots_meaningful": SCREENSHOTS_WEIGHT,
    }


def test_thin_selectors_are_counted_in_feedback() -> None:
    clicks = [
        ClickFacts(i, frozenset({"css", "xpath"}) if i < 2 else frozenset({"css", "xpath", "text"}), 1.0)
        for i in range(9)
    ]
    report = grade_session(perfect_facts(clicks=clicks))
    assert "2 of 9 clicks had fewer than 3 selector kinds." in report.feedback
    assert report.component("completeness").value == pytest.approx((1 + 1 + 7 / 9 + 1) / 4)


def test_gaps_missing_page_shots_blank_frames_and_no_end() -> None:
    report = grade_session(
        perfect_facts(
            event_seqs=[0, 1, 2, 5, 6],
            pages=[PageFacts(0, True), PageFacts(5, False)],
            screenshots=[GOOD, BLANK, BLANK],
            ended=False,
        )
    )
    assert "2 of 7 events are missing (sequence gaps, first at seq 3)." in report.feedback
    assert "1 of 2 pages had no screenshot." in report.feedback
    assert "2 of 3 screenshots looked blank or uniform." in report.feedback
    assert "The session never ended; it may have been cut off." in report.feedback
    assert report.component("screenshots_meaningful").value == pytest.approx(1 / 3)
    assert report.score < 70


def test_score_is_the_weighted_mean_of_components() -> None:
    clicks = [ClickFacts(2, frozenset({"a", "b", "c"}), 0.5)]
    report = grade_session(perfect_facts(clicks=clicks, screenshots=[GOOD, BLANK]))
    expected = 100 * (COMPLETENESS_WEIGHT * 1 + RELIABILITY_WEIGHT * 0.5 + SCREENSHOTS_WEIGHT * 0.5)
    assert report.score == pytest.approx(expected, abs=0.05)
    assert "Selectors were unique and correct in only 50% of replay conditions on average." in report.feedback


def test_unreplayed_reliability_hands_its_weight_to_the_rest() -> None:
    clicks = [ClickFacts(2, frozenset({"a", "b", "c"}), None)]
    report = grade_session(perfect_facts(clicks=clicks))
    assert report.component("selector_reliability").value is None
    assert report.score == 100.0
    assert "No click was replayed, so selector reliability is unknown." in report.feedback


def test_empty_session_scores_low_and_says_why() -> None:
    report = grade_session(SessionFacts(event_seqs=[], pages=[], clicks=[], screenshots=[], ended=False))
    assert report.score < 30
    assert "The session has no events." in report.feedback
    assert "The session has no screenshots." in report.feedback
    assert report.to_dict()["feedback"] == list(report.feedback)


def test_missing_seqs() -> None:
    assert missing_seqs([3, 4, 7, 9]) == [5, 6, 8]
    assert missing_seqs([]) == []


def test_facts_from_rows_link_screenshots_to_pages_and_replay_to_clicks() -> None:
    sid = uuid.uuid4()
    t = datetime(2025, 1, 1, tzinfo=UTC)
    home = Page(session_id=sid, seq=0, url="http://x/", title="Home")
    cart = Page(session_id=sid, seq=3, url="http://x/cart", title="Cart")
    events = [
        Event(id=1, session_id=sid, seq=0, type="page", t=t, url=home.url, page_id=home.id),
        Event(id=2, session_id=sid, seq=1, type="screenshot", t=t, url=home.url),  # no page_id: last page before it
        Event(id=3, session_id=sid, seq=2, type="click", t=t, url=home.url, page_id=home.id),
        Event(id=4, session_id=sid, seq=3, type="page", t=t, url=cart.url, page_id=cart.id),
    ]
    candidates = [
        SelectorCandidate(
            id=1, session_id=sid, event_id=3, kind="testid", value="a", rank=0, score=1, reliability=None
        ),
        SelectorCandidate(id=2, session_id=sid, event_id=3, kind="css", value="b", rank=1, score=0.5, reliability=0.25),
        SelectorCandidate(
            id=3, session_id=sid, event_id=3, kind="xpath", value="c", rank=2, score=0.1, reliability=None
        ),
    ]
    results = [
        ReplayResult(candidate_id=1, condition="mobile/fresh", matched_count=1, correct=True),
        ReplayResult(candidate_id=1, condition="mobile/reload", matched_count=2, correct=True),
    ]
    shot = Screenshot(session_id=sid, event_id=2, reason="navigation", blob_key="k", size_bytes=1, width=1, height=1)
    rows = SessionRows(
        Session(id=sid, site="shop", ended_at=t), [home, cart], events, candidates, results, [shot], [], []
    )

    assert candidate_reliability(rows) == {1: 0.5, 2: 0.25, 3: None}
    facts = session_facts(rows, {shot.id: GOOD})
    assert facts.pages == [PageFacts(0, True), PageFacts(3, False)]
    assert facts.clicks == [ClickFacts(2, frozenset({"testid", "css", "xpath"}), 0.5)]
    assert facts.screenshots == [GOOD] and facts.ended
