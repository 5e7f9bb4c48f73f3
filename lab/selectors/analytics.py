"""Selector reliability over the stored replay results: by kind, site, condition and time bucket.

Postgres does the counting, in two statements over replay_results ⋈ selector_candidates ⋈
sessions: one with GROUPING SETS for every breakdown of the per-candidate figures, one for
replay's pick per (click, condition). Time is when the session was recorded
(`sessions.started_at`, buckets in UTC), so a site's figures over time show how selectors
recorded on its pages hold up as the site changes.

- *Reliability* (DESIGN.md): share of replay results (one candidate under one condition) in
  which the candidate matches exactly one element and it is the target. replay_results does not
  keep whether the target was on the page (removed on purpose, or not reproducible in that page
  state), so such results count as failures here: these figures are a lower bound of the ones
  the per-candidate `selector_candidates.reliability` and the benchmark report.
- *Top-1*: share of (click, condition) pairs where the first candidate in rank order that
  matches exactly one element is the target. The fingerprint fallback's verdict is not stored,
  so a pair where no candidate is unique counts as a miss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, computed_field
from sqlalchemy import Boolean, and_, func, literal_column, select, tuple_, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import ReplayResult, SelectorCandidate, Session

Bucket = Literal["day", "week"]
BUCKETS: tuple[Bucket, ...] = ("day", "week")
# How far back the analytics page looks unless asked otherwise, and the most it will look back.
DEFAULT_DAYS = 30
MAX_DAYS = 366

# The breakdowns of the per-candidate figures, as GROUPING SETS over these dimensions.
DIMENSIONS = ("kind", "site", "condition", "viewport", "state", "bucket")
GROUPINGS: dict[str, tuple[str, ...]] = {
    "totals": (),
    "by_kind": ("kind",),
    "by_site": ("site",),
    "by_kind_site": ("kind", "site"),
    "by_condition": ("condition",),
    "by_viewport": ("viewport",),
    "by_state": ("state",),
    "over_time": ("bucket",),
    "over_time_by_site": ("bucket", "site"),
    "over_time_by_kind": ("bucket", "kind"),
}
TOP1_DIMENSIONS = ("site", "bucket")
TOP1_GROUPINGS: dict[str, tuple[str, ...]] = {
    "totals": (),
    "by_site": ("site",),
    "over_time": ("bucket",),
    "over_time_by_site": ("bucket", "site"),
}


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


class Reliability(BaseModel):
    """Counts of replay results (one candidate under one condition) and the rates over them; None when empty."""

    results: int = 0
    unique: int = 0  # matched exactly one element
    correct: int = 0  # matched exactly one element, and it is the target

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unique_rate(self) -> float | None:
        return _rate(self.unique, self.results)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reliability(self) -> float | None:
        return _rate(self.correct, self.results)


class KindSiteReliability(Reliability):
    kind: str
    site: str


class BucketReliability(Reliability):
    bucket: date  # first day of the bucket (UTC; weeks start on Monday)


class Top1(BaseModel):
    """Replay's pick over (click, condition) pairs: how often the first unique candidate is the target."""

    pairs: int = 0
    correct: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        return _rate(self.correct, self.pairs)


class BucketTop1(Top1):
    bucket: date


class SelectorAnalytics(BaseModel):
    """Selector reliability for the sessions recorded in [since, until), optionally on one site."""

    since: datetime
    until: datetime
    bucket: Bucket
    site: str | None
    sites: list[str]  # every site with replay results in the window, by name
    kinds: list[str]
    buckets: list[date]  # buckets with replay results, oldest first
    totals: Reliability
    by_kind: dict[str, Reliability]
    by_site: dict[str, Reliability]
    by_kind_site: list[KindSiteReliability]
    by_condition: dict[str, Reliability]
    by_viewport: dict[str, Reliability]
    by_state: dict[str, Reliability]
    over_time: list[BucketReliability]
    over_time_by_site: dict[str, list[BucketReliability]]
    over_time_by_kind: dict[str, list[BucketReliability]]
    top1: Top1
    top1_by_site: dict[str, Top1]
    top1_over_time: list[BucketTop1]
    top1_over_time_by_site: dict[str, list[BucketTop1]]

    @property
    def empty(self) -> bool:
        return self.totals.results == 0

    def kind_site(self, kind: str, site: str) -> Reliability | None:
        """The cell of one kind on one site, None when that kind never appeared on that site."""
        return next((r for r in self.by_kind_site if r.kind == kind and r.site == site), None)

    def site_at(self, site: str, bucket: date) -> Reliability | None:
        """One site's figures in one time bucket, None when it has no results there."""
        return next((p for p in self.over_time_by_site.get(site, []) if p.bucket == bucket), None)


async def sites_with_results(s: AsyncSession) -> list[str]:
    """Every site that has replay results at all, by name (for pickers)."""
    stmt = (
        select(col(Session.site))
        .distinct()
        .select_from(ReplayResult)
        .join(SelectorCandidate, col(SelectorCandidate.id) == col(ReplayResult.candidate_id))
        .join(Session, col(Session.id) == col(SelectorCandidate.session_id))
        .order_by(col(Session.site))
    )
    return list((await (await s.connection()).execute(stmt)).scalars())


def _window(days: int, now: datetime | None) -> tuple[datetime, datetime]:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days: must be between 1 and {MAX_DAYS}, got {days}")
    until = now or datetime.now(UTC)
    return until - timedelta(days=days), until


def _bucket_expr(bucket: Bucket) -> ColumnElement[Any]:
    if bucket not in BUCKETS:
        raise ValueError(f"bucket: must be one of {', '.join(BUCKETS)}, got {bucket!r}")
    # The unit is inlined (checked above): a bound parameter in the select list and another in
    # GROUP BY would be different expressions to Postgres.
    return func.date_trunc(
        literal_column(f"'{bucket}'"), func.timezone(literal_column("'UTC'"), col(Session.started_at))
    )


def _grouping_sets(columns: Any, groupings: Mapping[str, tuple[str, ...]]) -> Any:
    return func.grouping_sets(*(tuple_(*(columns[d] for d in dims)) for dims in groupings.values()))


def _grouping_of(mask: int, dimensions: Sequence[str], groupings: Mapping[str, tuple[str, ...]]) -> str:
    """The grouping set a row belongs to, from GROUPING()'s bit mask (bit set: not grouped by)."""
    grouped = tuple(d for i, d in enumerate(dimensions) if not mask & (1 << (len(dimensions) - 1 - i)))
    return next(name for name, dims in groupings.items() if set(dims) == set(grouped))


def _as_date(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


async def selector_analytics(
    s: AsyncSession,
    *,
    site: str | None = None,
    days: int = DEFAULT_DAYS,
    bucket: Bucket = "day",
    now: datetime | None = None,
) -> SelectorAnalytics:
    """Reliability by kind, site, condition and time bucket for sessions started in the last `days`."""
    since, until = _window(days, now)
    filters = [col(Session.started_at) >= since, col(Session.started_at) < until]
    if site is not None:
        filters.append(col(Session.site) == site)
    joined = (
        select()
        .select_from(ReplayResult)
        .join(SelectorCandidate, col(SelectorCandidate.id) == col(ReplayResult.candidate_id))
        .join(Session, col(Session.id) == col(SelectorCandidate.session_id))
        .where(*filters)
    )
    rows = joined.add_columns(
        col(SelectorCandidate.kind).label("kind"),
        col(Session.site).label("site"),
        col(ReplayResult.condition).label("condition"),
        func.split_part(col(ReplayResult.condition), literal_column("'/'"), literal_column("1")).label("viewport"),
        func.split_part(col(ReplayResult.condition), literal_column("'/'"), literal_column("2")).label("state"),
        _bucket_expr(bucket).label("bucket"),
        col(ReplayResult.matched_count).label("matched_count"),
        col(ReplayResult.correct).label("correct"),
    ).subquery("rows")
    unique = rows.c.matched_count == 1
    counts = select(
        *(rows.c[d] for d in DIMENSIONS),
        func.grouping(*(rows.c[d] for d in DIMENSIONS)).label("mask"),
        func.count().label("results"),
        func.count().filter(unique).label("unique"),
        func.count().filter(and_(unique, rows.c.correct)).label("correct"),
    ).group_by(_grouping_sets(rows.c, GROUPINGS))
    conn = await s.connection()  # plain Core statements: the ORM session's own connection and transaction
    groups: dict[str, list[Any]] = {name: [] for name in GROUPINGS}
    for row in (await conn.execute(counts)).all():
        groups[_grouping_of(row.mask, DIMENSIONS, GROUPINGS)].append(row)

    # One row per (click, condition): replay's pick is the first unique candidate in rank order.
    pairs = joined.add_columns(
        col(Session.site).label("site"),
        _bucket_expr(bucket).label("bucket"),
        func.array_agg(aggregate_order_by(col(ReplayResult.correct), col(SelectorCandidate.rank)))
        .filter(col(ReplayResult.matched_count) == 1)
        .label("unique_verdicts"),
    ).group_by(col(SelectorCandidate.event_id), col(ReplayResult.condition), col(Session.site), _bucket_expr(bucket))
    pair_rows = pairs.subquery("pairs")
    first_verdict = func.coalesce(type_coerce(pair_rows.c.unique_verdicts, ARRAY(Boolean))[1], False)
    top1_counts = select(
        *(pair_rows.c[d] for d in TOP1_DIMENSIONS),
        func.grouping(*(pair_rows.c[d] for d in TOP1_DIMENSIONS)).label("mask"),
        func.count().label("pairs"),
        func.count().filter(first_verdict).label("correct"),
    ).group_by(_grouping_sets(pair_rows.c, TOP1_GROUPINGS))
    top1_groups: dict[str, list[Any]] = {name: [] for name in TOP1_GROUPINGS}
    for row in (await conn.execute(top1_counts)).all():
        top1_groups[_grouping_of(row.mask, TOP1_DIMENSIONS, TOP1_GROUPINGS)].append(row)
    return _assemble(groups, top1_groups, since=since, until=until, bucket=bucket, site=site)


def _reliability(row: Any) -> Reliability:
    return Reliability(results=row.results, unique=row.unique, correct=row.correct)


def _assemble(
    groups: Mapping[str, list[Any]],
    top1_groups: Mapping[str, list[Any]],
    *,
    since: datetime,
    until: datetime,
    bucket: Bucket,
    site: str | None,
) -> SelectorAnalytics:
    """The SQL rows, keyed and ordered (kinds, sites and conditions by name, buckets oldest first)."""

    def keyed(name: str, key: str) -> dict[str, Reliability]:
        return {getattr(r, key): _reliability(r) for r in sorted(groups[name], key=lambda r: getattr(r, key))}

    def point(r: Any) -> BucketReliability:
        return BucketReliability(bucket=_as_date(r.bucket), results=r.results, unique=r.unique, correct=r.correct)

    def series(name: str, key: str) -> dict[str, list[BucketReliability]]:
        out: dict[str, list[BucketReliability]] = {}
        for r in sorted(groups[name], key=lambda r: (getattr(r, key), r.bucket)):
            out.setdefault(getattr(r, key), []).append(point(r))
        return out

    def top1_series(rows: list[Any]) -> list[BucketTop1]:
        ordered = sorted(rows, key=lambda r: r.bucket)
        return [BucketTop1(bucket=_as_date(r.bucket), pairs=r.pairs, correct=r.correct) for r in ordered]

    totals = groups["totals"][0] if groups["totals"] else None
    top1_totals = top1_groups["totals"][0] if top1_groups["totals"] else None
    top1_by_site: dict[str, list[Any]] = {}
    for r in top1_groups["over_time_by_site"]:
        top1_by_site.setdefault(r.site, []).append(r)
    by_site = keyed("by_site", "site")
    by_kind = keyed("by_kind", "kind")
    over_time = [point(r) for r in sorted(groups["over_time"], key=lambda r: r.bucket)]
    return SelectorAnalytics(
        since=since,
        until=until,
        bucket=bucket,
        site=site,
        sites=list(by_site),
        kinds=list(by_kind),
        buckets=[p.bucket for p in over_time],
        totals=_reliability(totals) if totals is not None else Reliability(),
        by_kind=by_kind,
        by_site=by_site,
        by_kind_site=[
            KindSiteReliability(kind=r.kind, site=r.site, results=r.results, unique=r.unique, correct=r.correct)
            for r in sorted(groups["by_kind_site"], key=lambda r: (r.kind, r.site))
        ],
        by_condition=keyed("by_condition", "condition"),
        by_viewport=keyed("by_viewport", "viewport"),
        by_state=keyed("by_state", "state"),
        over_time=over_time,
        over_time_by_site=series("over_time_by_site", "site"),
        over_time_by_kind=series("over_time_by_kind", "kind"),
        top1=Top1(pairs=top1_totals.pairs, correct=top1_totals.correct) if top1_totals is not None else Top1(),
        top1_by_site={
            r.site: Top1(pairs=r.pairs, correct=r.correct) for r in sorted(top1_groups["by_site"], key=lambda r: r.site)
        },
        top1_over_time=top1_series(top1_groups["over_time"]),
        top1_over_time_by_site={name: top1_series(rows) for name, rows in sorted(top1_by_site.items())},
    )
