"""Selector analytics over real Postgres: the JSON figures and the dashboard page that shows them.

Three sessions on two sites over two days, plus one outside the window. Every figure below is
worked out by hand from the replay results in `SESSIONS` (the comments show the arithmetic).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from lab.db import Database
from lab.db.models import Event, ReplayResult, SelectorCandidate, Session
from tests.conftest import LiveServer

NOW = datetime.now(UTC)
DAY1 = NOW - timedelta(days=2)
DAY2 = NOW - timedelta(days=1)
OLD = NOW - timedelta(days=40)  # outside the default 30-day window

# (site, started_at, [(kind, {condition: (matched_count, correct)}), ...] in rank order): one click each.
SESSIONS = [
    (
        "shop",
        DAY1,
        [
            ("testid", {"mobile/fresh": (1, True), "desktop/fresh": (1, True)}),
            ("css", {"mobile/fresh": (2, False), "desktop/fresh": (1, True)}),
        ],
    ),
    (
        "shop",
        DAY2,
        [
            ("testid", {"mobile/fresh": (0, False), "desktop/fresh": (1, True)}),
            ("css", {"mobile/fresh": (1, False), "desktop/fresh": (1, True)}),  # unique but the wrong element
        ],
    ),
    (
        "books",
        DAY2,
        [
            ("role", {"mobile/fresh": (1, True), "desktop/fresh": (1, True)}),
            ("text", {"mobile/fresh": (3, False), "desktop/fresh": (1, True)}),
        ],
    ),
    ("shop", OLD, [("testid", {"mobile/fresh": (0, False), "desktop/fresh": (0, False)})]),
]


async def insert_sessions(db: Database) -> None:
    async with db.session() as s:
        for site, started, candidates in SESSIONS:
            session = Session(id=uuid.uuid4(), site=site, mode="automated", status="done", started_at=started)
            s.add(session)
            await s.flush()
            event = Event(session_id=session.id, seq=1, type="click", t=started, url=f"http://{site}.test/v1/")
            s.add(event)
            await s.flush()
            assert event.id is not None
            for rank, (kind, results) in enumerate(candidates):
                candidate = SelectorCandidate(
                    session_id=session.id, event_id=event.id, kind=kind, value=f"{kind}=x", rank=rank, score=1.0
                )
                s.add(candidate)
                await s.flush()
                assert candidate.id is not None
                for condition, (matched, correct) in results.items():
                    s.add(
                        ReplayResult(
                            candidate_id=candidate.id, condition=condition, matched_count=matched, correct=correct
                        )
                    )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cell(html: str, key: str) -> str:
    """The text of the page's table cell marked data-cell=key, tags stripped."""
    found = re.search(rf'data-cell="{re.escape(key)}">(.*?)</td>', html, re.S)
    assert found, f"no cell {key}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def test_selector_analytics_json_reports_reliability_by_kind_site_condition_and_day(
    live_server: LiveServer,
) -> None:
    await insert_sessions(live_server.services.db)
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth(live_server.user_token)) as client:
        r = await client.get("/api/v1/analytics/selectors", params={"days": 30, "bucket": "day"})
        assert r.status_code == 200, r.text
        body = r.json()
        books = (await client.get("/api/v1/analytics/selectors", params={"site": "books"})).json()
        weekly = (await client.get("/api/v1/analytics/selectors", params={"days": 90, "bucket": "week"})).json()
        bad = await client.get("/api/v1/analytics/selectors", params={"bucket": "hour"})

    # The 40-day-old session is out of the window: 12 results, not 14.
    assert body["totals"] == {"results": 12, "unique": 9, "correct": 8, "unique_rate": 0.75, "reliability": 8 / 12}
    assert body["sites"] == ["books", "shop"]
    # shop: day 1 testid 2 + css 1, day 2 testid 1 + css 1 (its unique mobile match is wrong) = 5 of 8.
    assert body["by_site"]["shop"]["reliability"] == pytest.approx(5 / 8)
    assert body["by_site"]["books"]["reliability"] == pytest.approx(3 / 4)
    assert {k: v["reliability"] for k, v in body["by_kind"].items()} == pytest.approx(
        {"css": 0.5, "role": 1.0, "testid": 0.75, "text": 0.5}
    )
    assert [(c["kind"], c["site"], c["correct"], c["results"]) for c in body["by_kind_site"]] == [
        ("css", "shop", 2, 4),
        ("role", "books", 2, 2),
        ("testid", "shop", 3, 4),
        ("text", "books", 1, 2),
    ]
    assert body["by_condition"]["mobile/fresh"]["reliability"] == pytest.approx(2 / 6)
    assert body["by_condition"]["desktop/fresh"]["reliability"] == 1.0
    assert set(body["by_viewport"]) == {"mobile", "desktop"} and set(body["by_state"]) == {"fresh"}
    # Day 1: shop's first session only, 3 of 4; day 2: shop 2 of 4 + books 3 of 4.
    assert [(p["bucket"], p["correct"], p["results"]) for p in body["over_time"]] == [
        (DAY1.date().isoformat(), 3, 4),
        (DAY2.date().isoformat(), 5, 8),
    ]
    assert [(p["bucket"], p["correct"]) for p in body["over_time_by_site"]["shop"]] == [
        (DAY1.date().isoformat(), 3),
        (DAY2.date().isoformat(), 2),
    ]
    # Replay's pick per (click, condition): shop's day-2 mobile pick is the unique-but-wrong css.
    assert body["top1_by_site"] == {
        "books": {"pairs": 2, "correct": 2, "rate": 1.0},
        "shop": {"pairs": 4, "correct": 3, "rate": 0.75},
    }
    assert body["top1"]["pairs"] == 6 and body["top1"]["correct"] == 5

    assert books["sites"] == ["books"] and books["totals"]["results"] == 4 and books["top1"]["pairs"] == 2
    # Over 90 days the old session counts too (2 more results, neither correct); both days fall in at most 2 weeks.
    assert weekly["totals"]["results"] == 14 and weekly["totals"]["correct"] == 8
    assert 2 <= len(weekly["over_time"]) <= 3 and all(
        date.fromisoformat(p["bucket"]).weekday() == 0 for p in weekly["over_time"]
    )
    assert bad.status_code == 400


async def test_analytics_page_shows_reliability_by_kind_and_site_over_time(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth(live_server.user_token)) as client:
        empty = await client.get("/analytics")
        await insert_sessions(live_server.services.db)
        page = await client.get("/analytics")
        panel = await client.get("/analytics/panel", params={"site": "books", "days": 7})
    assert empty.status_code == 200
    assert 'id="analytics-empty"' in empty.text and "No replay results" in empty.text
    assert page.status_code == 200, page.text
    html = page.text
    assert 'href="/analytics"' in html and 'id="analytics-empty"' not in html
    assert cell(html, "testid/shop") == "75%"
    assert cell(html, "css/shop") == "50%"
    assert cell(html, "role/books") == "100%"
    assert cell(html, "text/books") == "50%"
    assert cell(html, "role/shop") == "—"  # no role candidate on shop
    assert cell(html, "*/books") == "75%"
    assert cell(html, "top1/shop") == "75%"
    assert cell(html, "mobile/fresh") == "33%"
    assert cell(html, f"{DAY1.date().isoformat()}/shop") == "75%"
    assert cell(html, f"{DAY2.date().isoformat()}/shop") == "50%"
    assert cell(html, f"{DAY1.date().isoformat()}/books") == "—"
    # The filters' panel alone (what HTMX swaps in): one site, no page chrome.
    assert panel.status_code == 200 and "<header" not in panel.text
    assert cell(panel.text, "role/books") == "100%" and 'data-cell="testid/shop"' not in panel.text


async def test_analytics_needs_a_dashboard_user(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        api = await client.get("/api/v1/analytics/selectors")
        as_participant = await client.get("/api/v1/analytics/selectors", headers=auth(live_server.participant_token))
        page = await client.get("/analytics", follow_redirects=False)
    assert api.status_code == 401
    assert as_participant.status_code == 401
    assert page.status_code in (302, 303, 307) and page.headers["location"] == "/login"
