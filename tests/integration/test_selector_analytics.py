"""Selector analytics over real Postgres: the JSON figures and the dashboard page that shows them.

Six sessions on two sites over two days, plus one outside the window. Every figure below is
worked out by hand from the replay results and verdicts in `SESSIONS` (the comments show the
arithmetic). Cells are judged when the target was present or removed on purpose; a cell whose
page state cannot show the target (unreproduced) or that has nothing to compare with (unknown)
is unjudged; a session replayed before verdicts were stored (no verdicts) counts as present.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from lab.db import Database
from lab.db.models import Event, ReplayResult, ReplayVerdict, SelectorCandidate, Session
from tests.conftest import LiveServer

NOW = datetime.now(UTC)
DAY1 = NOW - timedelta(days=2)
DAY2 = NOW - timedelta(days=1)
OLD = NOW - timedelta(days=40)  # outside the default 30-day window
M, D = "mobile/fresh", "desktop/fresh"

# (site, started_at, [(kind, {condition: (matched_count, correct)}), ...] in rank order,
#  {condition: (pick, picked rank or None, target, outcome)} or None: replayed before verdicts): one click each.
SESSIONS = [
    (  # A: the first candidate decides everywhere.
        "shop",
        DAY1,
        [("testid", {M: (1, True), D: (1, True)}), ("css", {M: (2, False), D: (1, True)})],
        {M: ("candidate", 0, "present", "correct"), D: ("candidate", 0, "present", "correct")},
    ),
    (  # B: on mobile the unique css is the wrong element; resolve rejects it and the fingerprint finds the target.
        "shop",
        DAY2,
        [("testid", {M: (0, False), D: (1, True)}), ("css", {M: (1, False), D: (1, True)})],
        {M: ("fingerprint", None, "present", "correct"), D: ("candidate", 0, "present", "correct")},
    ),
    (  # C: removed on purpose on desktop: matching nothing and picking nothing are right.
        "books",
        DAY2,
        [("role", {M: (1, True), D: (0, False)}), ("text", {M: (3, False), D: (0, False)})],
        {M: ("candidate", 0, "present", "correct"), D: ("none", None, "removed", "correct")},
    ),
    (  # D: resolve abstains on mobile and picks the wrong element on desktop.
        "books",
        DAY2,
        [("text", {M: (0, False), D: (1, False)})],
        {M: ("none", None, "present", "abstained"), D: ("candidate", 0, "present", "wrong")},
    ),
    (  # E: replayed before verdicts were stored.
        "shop",
        DAY1,
        [("css", {M: (1, True), D: (0, False)})],
        None,
    ),
    (  # F: the mobile page state cannot show the target; on desktop there is no ground truth and no fingerprint match.
        "shop",
        DAY2,
        [("testid", {M: (0, False), D: (1, False)})],
        {M: ("none", None, "unreproduced", "target_absent"), D: ("candidate", 0, "unknown", "unknown")},
    ),
    ("shop", OLD, [("testid", {M: (0, False), D: (0, False)})], None),
]


async def insert_sessions(db: Database) -> None:
    async with db.session() as s:
        for site, started, candidates, verdicts in SESSIONS:
            session = Session(id=uuid.uuid4(), site=site, mode="automated", status="done", started_at=started)
            s.add(session)
            await s.flush()
            event = Event(session_id=session.id, seq=1, type="click", t=started, url=f"http://{site}.test/v1/")
            s.add(event)
            await s.flush()
            assert event.id is not None
            ids: list[int] = []
            for rank, (kind, results) in enumerate(candidates):
                candidate = SelectorCandidate(
                    session_id=session.id, event_id=event.id, kind=kind, value=f"{kind}=x", rank=rank, score=1.0
                )
                s.add(candidate)
                await s.flush()
                assert candidate.id is not None
                ids.append(candidate.id)
                for condition, (matched, correct) in results.items():
                    s.add(
                        ReplayResult(
                            candidate_id=candidate.id, condition=condition, matched_count=matched, correct=correct
                        )
                    )
            for condition, (pick, rank, target, outcome) in (verdicts or {}).items():
                s.add(
                    ReplayVerdict(
                        event_id=event.id,
                        condition=condition,
                        pick=pick,
                        candidate_id=None if rank is None else ids[rank],
                        target=target,
                        outcome=outcome,
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

    # Judged results: A 4 + B 4 + C 4 (2 removed) + D 2 + E 2 (no verdict: as present) = 16; F's 2 are unjudged.
    # Unique: A testid m, testid d, css d; B testid d, css m, css d; C role m; D text d; E css m = 9.
    # Correct: A 3; B testid d, css d; C role m and, removed, role d and text d (matched nothing); E css m = 9.
    # The 40-day-old session is out of the window.
    assert body["totals"] == {
        "results": 16,
        "unique": 9,
        "correct": 9,
        "unjudged": 2,
        "unique_rate": 9 / 16,
        "reliability": 9 / 16,
    }
    assert body["sites"] == ["books", "shop"]
    # shop: A 3 of 4, B 2 of 4 (its unique mobile css is the wrong element), E 1 of 2 = 6 of 10; F unjudged.
    assert (body["by_site"]["shop"]["correct"], body["by_site"]["shop"]["results"]) == (6, 10)
    assert body["by_site"]["shop"]["unjudged"] == 2
    # books: C 3 of 4, D 0 of 2 = 3 of 6.
    assert body["by_site"]["books"]["reliability"] == pytest.approx(3 / 6)
    # testid: A 2/2 + B 1/2 (F unjudged) = 3/4; css: A 1/2 + B 1/2 + E 1/2 = 3/6; role: C 2/2;
    # text: C 1/2 + D 0/2 = 1/4.
    assert {k: v["reliability"] for k, v in body["by_kind"].items()} == pytest.approx(
        {"css": 0.5, "role": 1.0, "testid": 0.75, "text": 0.25}
    )
    assert [(c["kind"], c["site"], c["correct"], c["results"]) for c in body["by_kind_site"]] == [
        ("css", "shop", 3, 6),
        ("role", "books", 2, 2),
        ("testid", "shop", 3, 4),
        ("text", "books", 1, 4),
    ]
    # mobile: A testid, C role, E css = 3 of 8; desktop: A 2, B 2, C 2 (removed) = 6 of 8, D and E miss.
    assert body["by_condition"][M]["reliability"] == pytest.approx(3 / 8)
    assert body["by_condition"][D]["reliability"] == pytest.approx(6 / 8)
    assert body["by_condition"][D]["unjudged"] == body["by_condition"][M]["unjudged"] == 1
    assert set(body["by_viewport"]) == {"mobile", "desktop"} and set(body["by_state"]) == {"fresh"}
    # Day 1: A 3/4 + E 1/2 = 4 of 6; day 2: B 2/4 + C 3/4 + D 0/2 = 5 of 10 (F's 2 unjudged).
    assert [(p["bucket"], p["correct"], p["results"], p["unjudged"]) for p in body["over_time"]] == [
        (DAY1.date().isoformat(), 4, 6, 0),
        (DAY2.date().isoformat(), 5, 10, 2),
    ]
    assert [(p["bucket"], p["correct"]) for p in body["over_time_by_site"]["shop"]] == [
        (DAY1.date().isoformat(), 4),
        (DAY2.date().isoformat(), 2),
    ]
    # Replay's pick, fingerprint included: shop A 2 + B 2 (mobile by fingerprint) right, F unjudged, E has no
    # verdicts; books C 2 right (desktop: nothing, removed), D abstained on mobile and wrong on desktop.
    assert body["top1_by_site"] == {
        "books": {
            "pairs": 4, "correct": 2, "wrong": 1, "abstained": 1, "fingerprint": 0, "unjudged": 0,
            "rate": 0.5, "wrong_rate": 0.25,
        },
        "shop": {
            "pairs": 4, "correct": 4, "wrong": 0, "abstained": 0, "fingerprint": 1, "unjudged": 2,
            "rate": 1.0, "wrong_rate": 0.0,
        },
    }  # fmt: skip
    assert body["top1"] == {
        "pairs": 8, "correct": 6, "wrong": 1, "abstained": 1, "fingerprint": 1, "unjudged": 2,
        "rate": 0.75, "wrong_rate": 0.125,
    }  # fmt: skip
    # mobile: A, B (fingerprint), C right, D abstained, F unjudged; desktop: A, B, C right, D wrong, F unknown.
    assert {c: (t["correct"], t["pairs"], t["unjudged"]) for c, t in body["top1_by_condition"].items()} == {
        D: (3, 4, 1),
        M: (3, 4, 1),
    }
    assert [(p["bucket"], p["correct"], p["pairs"]) for p in body["top1_over_time"]] == [
        (DAY1.date().isoformat(), 2, 2),
        (DAY2.date().isoformat(), 4, 6),
    ]

    assert books["sites"] == ["books"] and books["totals"]["results"] == 6 and books["top1"]["pairs"] == 4
    # Over 90 days the old session counts too (2 more results, no verdicts, neither correct); at most 2 weeks.
    assert weekly["totals"]["results"] == 18 and weekly["totals"]["correct"] == 9
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
    assert cell(html, "text/books") == "25%"
    assert cell(html, "role/shop") == "—"  # no role candidate on shop
    assert cell(html, "*/books") == "50%"
    assert cell(html, "top1/shop") == "100%"
    assert cell(html, "top1/books") == "50%"
    assert cell(html, "top1-wrong/books") == "25%"
    assert cell(html, "mobile/fresh") == "38%"
    assert cell(html, "top1/mobile/fresh") == "75%"
    assert cell(html, f"{DAY1.date().isoformat()}/shop") == "67%"
    assert cell(html, f"{DAY2.date().isoformat()}/shop") == "50%"
    assert cell(html, f"{DAY1.date().isoformat()}/books") == "—"
    assert "fingerprint" in html and "lower bound" not in html
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
