"""Selector analytics as JSON for dashboard users: reliability by kind, site, condition and over time."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.exceptions import ClientException
from litestar.params import FromQuery, QueryParameter

from lab.selectors.analytics import DEFAULT_DAYS, MAX_DAYS, Bucket, SelectorAnalytics, selector_analytics
from web.auth import reader_guard
from web.services import ServicesDep

Days = Annotated[int, QueryParameter(ge=1, le=MAX_DAYS, description="sessions started in the last N days")]


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]

    @get("/selectors", guards=[reader_guard])
    async def selectors(
        self,
        services: ServicesDep,
        site: FromQuery[str | None] = None,
        days: Days = DEFAULT_DAYS,
        bucket: FromQuery[Bucket] = "day",
    ) -> SelectorAnalytics:
        """Reliability (unique and correct) by kind, site, kind and site, condition, viewport, state
        and time bucket, and replay's pick (top-1, fingerprint included) per site and condition, for sessions
        started in the last `days`; see lab.selectors.analytics for what is judged."""
        async with services.db.session() as s:
            try:
                return await selector_analytics(s, site=site or None, days=days, bucket=bucket)
            except ValueError as exc:
                raise ClientException(str(exc)) from exc
