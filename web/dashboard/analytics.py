"""The analytics page: selector reliability by kind and site, by condition, and over time."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from lab.db.models import User
from lab.selectors.analytics import (
    BUCKETS,
    DEFAULT_DAYS,
    MAX_DAYS,
    Bucket,
    selector_analytics,
    sites_with_results,
)
from web.auth import reader_guard
from web.dashboard.trainer import sparkline
from web.services import Services, ServicesDep

Days = Annotated[int, QueryParameter(ge=1, le=MAX_DAYS)]
# Choices offered in the window picker (any 1..MAX_DAYS works in the URL).
DAY_CHOICES = (7, 30, 90, 365)


def _sparks(series: dict[str, list[Any]]) -> dict[str, str]:
    return {
        name: sparkline([p.reliability for p in points if p.reliability is not None]) for name, points in series.items()
    }


async def _context(services: Services, site: str | None, days: int, bucket: Bucket) -> dict[str, Any]:
    async with services.db.session() as s:
        analytics = await selector_analytics(s, site=site or None, days=days, bucket=bucket)
        sites = await sites_with_results(s)
    return {
        "a": analytics,
        "all_sites": sites,
        "site": site or "",
        "days": days,
        "bucket": bucket,
        "buckets": BUCKETS,
        "day_choices": sorted({*DAY_CHOICES, days}),
        "site_sparks": _sparks(analytics.over_time_by_site),
        "kind_sparks": _sparks(analytics.over_time_by_kind),
        "overall_spark": sparkline([p.reliability for p in analytics.over_time if p.reliability is not None]),
        "viewports": list(analytics.by_viewport),
        "states": list(analytics.by_state),
    }


class AnalyticsPageController(Controller):
    """Dashboard users (any role) read selector reliability; the filters swap the panel in place."""

    path = "/analytics"
    include_in_schema = False
    guards = [reader_guard]

    @get("/")
    async def page(
        self,
        request: Request[User, Any, Any],
        services: ServicesDep,
        site: FromQuery[str | None] = None,
        days: Days = DEFAULT_DAYS,
        bucket: FromQuery[Bucket] = "day",
    ) -> Template:
        context = await _context(services, site, days, bucket)
        return Template("analytics.html", context={**context, "user": request.user})

    @get("/panel")
    async def panel(
        self,
        services: ServicesDep,
        site: FromQuery[str | None] = None,
        days: Days = DEFAULT_DAYS,
        bucket: FromQuery[Bucket] = "day",
    ) -> Template:
        return Template("partials/analytics_panel.html", context=await _context(services, site, days, bucket))
