"""Errors read as pages for people in a browser and as JSON for API clients."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import LiveServer

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_a_browser_gets_a_page_for_an_unknown_address(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, headers=BROWSER) as client:
        response = await client.get("/trainer")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    assert 'href="/training"' in response.text  # the way back


async def test_a_browser_gets_a_page_for_an_unknown_session(live_server: LiveServer) -> None:
    headers = {**BROWSER, "Authorization": f"Bearer {live_server.user_token}"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers) as client:
        response = await client.get(f"/sessions/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "alice" in response.text  # signed in: the header names the user


async def test_api_clients_and_htmx_fragments_still_get_json(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, headers=BROWSER) as client:
        api = await client.get("/api/v1/nothing-here")
        fragment = await client.get("/nothing-here", headers={"HX-Request": "true"})
    for response in (api, fragment):
        assert response.status_code == 404
        assert response.json() == {"status_code": 404, "detail": "Not Found"}
