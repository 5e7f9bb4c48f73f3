"""The session list, API and dashboard: filters by site, mode, status and review, review counts,
and keyset pages that neither skip nor repeat a session while new ones arrive."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import col, update

from lab.capture import ingest
from lab.capture.wire import SessionOpen
from lab.db.models import Session
from tests.conftest import LiveServer

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def seed(server: LiveServer) -> list[uuid.UUID]:
    """Nine sessions, oldest first: sites shop/grocer, modes, statuses and reviews mixed; two share a start time."""
    plan = [
        ("shop", "human", "done", "accepted"),
        ("shop", "automated", "done", "needs_review"),
        ("grocer", "human", "failed", "pending"),
        ("shop", "human", "done", "needs_review"),
        ("grocer", "automated", "processing", "pending"),
        ("shop", "human", "done", "rejected"),
        ("shop", "automated", "done", "needs_review"),
        ("grocer", "human", "recording", "pending"),
        ("shop", "human", "done", "accepted"),
    ]
    ids = []
    async with server.services.db.session() as s:
        for i, (site, mode, status, review) in enumerate(plan):
            opened = await ingest.open_session(s, None, SessionOpen(site=site, mode=mode))  # type: ignore[arg-type]
            started = T0 + timedelta(minutes=min(i, 7))  # the last two start at the same moment
            await s.exec(
                update(Session)
                .where(col(Session.id) == opened.id)
                .values(status=status, review_status=review, started_at=started)
            )
            ids.append(opened.id)
    return ids


def auth(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.user_token}"}


def next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


async def test_pages_walk_every_session_newest_first_once(live_server: LiveServer) -> None:
    ids = await seed(live_server)
    seen: list[str] = []
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth(live_server)) as client:
        url: str | None = "/api/v1/sessions?limit=4"
        pages = 0
        while url is not None:
            r = await client.get(url)
            assert r.status_code == 200, r.text
            seen += [row["id"] for row in r.json()]
            url = next_link(r)
            pages += 1
            if pages == 1:  # a session arriving meanwhile is on the first page, not in the rest
                async with live_server.services.db.session() as s:
                    await ingest.open_session(s, None, SessionOpen(site="shop"))
    assert pages == 3
    assert len(seen) == len(set(seen)) == 9
    # Newest first; the two sessions with the same start time are ordered by id.
    tied = sorted(map(str, ids[7:]), reverse=True)
    assert seen == tied + [str(i) for i in reversed(ids[:7])]


async def test_filters_combine_and_keep_to_the_next_page(live_server: LiveServer) -> None:
    ids = await seed(live_server)
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth(live_server)) as client:
        first = await client.get("/api/v1/sessions", params={"site": "shop", "review": "needs_review", "limit": 2})
        rest = await client.get(next_link(first) or "")
        automated = await client.get("/api/v1/sessions", params={"mode": "automated", "status": "done"})
    assert [r["id"] for r in first.json()] == [str(ids[6]), str(ids[3])]
    assert "site=shop" in (next_link(first) or "") and "review=needs_review" in (next_link(first) or "")
    assert [r["id"] for r in rest.json()] == [str(ids[1])] and next_link(rest) is None
    assert [r["id"] for r in automated.json()] == [str(ids[6]), str(ids[1])]


async def test_bad_list_parameters_are_400s_naming_the_field(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth(live_server)) as client:
        answers = {
            name: await client.get("/api/v1/sessions", params=params)
            for name, params in {
                "review": {"review": "maybe"},
                "mode": {"mode": "robot"},
                "status": {"status": "sleeping"},
                "limit": {"limit": 0},
                "before": {"before": str(uuid.uuid4())},
            }.items()
        }
    for name, r in answers.items():
        assert r.status_code == 400 and r.json()["detail"].startswith(f"{name}:"), (name, r.text)


async def test_the_dashboard_filters_counts_reviews_and_pages(live_server: LiveServer) -> None:
    ids = await seed(live_server)
    cookies = {"codesight_token": live_server.user_token}
    async with httpx.AsyncClient(base_url=live_server.url, cookies=cookies) as client:
        page = await client.get("/sessions", params={"site": "shop"})
        review_queue = await client.get("/sessions/rows", params={"site": "shop", "review": "needs_review"})
        none = await client.get("/sessions/rows", params={"site": "nowhere"})
        bad = await client.get("/sessions", params={"review": "maybe"}, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert '<option value="grocer">grocer</option>' in page.text and '<option value="shop" selected>' in page.text
    # Counts follow the other filters (shop: 2 accepted, 3 need review, 1 rejected), whatever the review filter.
    counts = dict(re.findall(r'class="badge r-(\w+)[^"]*">[^<]*? (\d+)</a>', review_queue.text))
    assert counts == {"pending": "0", "accepted": "2", "needs_review": "3", "rejected": "1"}
    shown = [i for i in ids if str(i)[:8] in review_queue.text]
    assert shown == [ids[1], ids[3], ids[6]]
    assert "No sessions match these filters." in none.text
    assert bad.status_code == 400 and "review:" in bad.text
