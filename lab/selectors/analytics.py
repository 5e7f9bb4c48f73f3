"""Selector reliability over the stored replay results: by kind, site, condition and time bucket.

Postgres does the counting, in two statements: one over replay_results ⋈ selector_candidates ⋈
sessions (with each result's replay_verdicts row for where the target stood) with GROUPING SETS
for every breakdown of the per-candidate figures, one over replay_verdicts ⋈ events ⋈ sessions
for replay's pick per (click, condition). Time is when the session was recorded
(`sessions.started_at`, buckets in UTC), so a site's figures over time show how selectors
recorded on its pages hold up as the site changes.

Cells are judged as the benchmark judges them (lab.bench.figures): a cell counts when the target
is on the page (`present`) or was removed on purpose (`removed`: the right answer is nothing).
Cells whose page state cannot show the target (`unreproduced`: a dialog only an earlier click
opens, a nav hidden on phones) or that have nothing to compare with (`unknown`: no ground truth
and the fingerprint finds nothing) count as `unjudged`, outside every rate.

- *Reliability* (DESIGN.md): share of judged replay results (one candidate under one condition)
  in which the candidate matches exactly one element and it is the target, or, where the target
  was removed on purpose, matches nothing. Results of sessions replayed before replay verdicts
  were stored (migration 0004) have no target state: they count as if the target were present,
  as they did before, until the session is replayed again.
- *Top-1*: share of judged (click, condition) pairs where replay's pick (`resolve`: the first
  unique candidate that checks out, else the fingerprint's relocation, else nothing) is right:
  the target, or nothing where it was removed. `wrong` picks another element (or anything where
  it was removed); `abstained` picks nothing although the target is there; `fingerprint` counts
  the judged pairs the fingerprint picked for. Pairs replayed before 0004 have no verdict and are
  not counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, computed_field
from sqlalchemy import and_, func, literal_column, not_, or_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from lab.db.models import Event, ReplayResult, ReplayVerdict, SelectorCandidate, Session

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
TOP1_DIMENSIONS = ("site", "condition", "bucket")
TOP1_GROUPINGS: dict[str, tuple[str, ...]] = {
    "totals": (),
    "by_site": ("site",),
    "by_condition": ("condition",),
    "over_time": ("bucket",),
    "over_time_by_site": ("bucket", "site"),
}


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


class Reliability(BaseModel):
    """Counts of replay results (one candidate under one condition) and the rates over the judged ones;
    None when none was judged."""

    results: int = 0  # judged: the target present, or removed on purpose
    unique: int = 0  # judged, and matched exactly one element
    correct: int = 0  # matched exactly the target, or nothing where the target was removed on purpose
    unjudged: int = 0  # the page state cannot show the target, or nothing to compare with (not in the rates)

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
    """Replay's pick (`resolve`, fingerprint fallback included) over judged (click, condition) pairs."""

    pairs: int = 0  # judged pairs: correct + wrong + abstained
    correct: int = 0  # the target, or nothing where it was removed on purpose
    wrong: int = 0  # another element, or anything where the target was removed
    abstained: int = 0  # nothing although the target was there
    fingerprint: int = 0  # judged pairs where no candidate checked out and the fingerprint picked
    unjudged: int = 0  # target not reproducible in that page state, or nothing to compare with

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        return _rate(self.correct, self.pairs)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def wrong_rate(self) -> float | None:
        return _rate(self.wrong, self.pairs)


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
    top1_by_condition: dict[str, Top1]
    top1_over_time: list[BucketTop1]
    top1_over_time_by_site: dict[str, list[BucketTop1]]

    @property
    def empty(self) -> bool:
        return self.totals.results == 0 and self.totals.unjudged == 0

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
    results = (
        select()
        .select_from(ReplayResult)
        .join(SelectorCandidate, col(SelectorCandidate.id) == col(ReplayResult.candidate_id))
        .join(Session, col(Session.id) == col(SelectorCandidate.session_id))
        .outerjoin(
            ReplayVerdict,
            and_(
                col(ReplayVerdict.event_id) == col(SelectorCandidate.event_id),
                col(ReplayVerdict.condition) == col(ReplayResult.condition),
            ),
        )
        .where(*filters)
    )
    rows = results.add_columns(
        col(SelectorCandidate.kind).label("kind"),
        col(Session.site).label("site"),
        col(ReplayResult.condition).label("condition"),
        func.split_part(col(ReplayResult.condition), literal_column("'/'"), literal_column("1")).label("viewport"),
        func.split_part(col(ReplayResult.condition), literal_column("'/'"), literal_column("2")).label("state"),
        _bucket_expr(bucket).label("bucket"),
        col(ReplayResult.matched_count).label("matched_count"),
        col(ReplayResult.correct).label("correct"),
        # Replayed before verdicts were stored: counted as if the target were present (module docstring).
        func.coalesce(col(ReplayVerdict.target), literal_column("'present'")).label("target"),
    ).subquery("rows")
    present, removed = rows.c.target == "present", rows.c.target == "removed"
    judged = or_(present, removed)
    right = or_(and_(present, rows.c.matched_count == 1, rows.c.correct), and_(removed, rows.c.matched_count == 0))
    counts = select(
        *(rows.c[d] for d in DIMENSIONS),
        func.grouping(*(rows.c[d] for d in DIMENSIONS)).label("mask"),
        func.count().filter(judged).label("results"),
        func.count().filter(and_(judged, rows.c.matched_count == 1)).label("unique"),
        func.count().filter(right).label("correct"),
        func.count().filter(not_(judged)).label("unjudged"),
    ).group_by(_grouping_sets(rows.c, GROUPINGS))
    conn = await s.connection()  # plain Core statements: the ORM session's own connection and transaction
    groups: dict[str, list[Any]] = {name: [] for name in GROUPINGS}
    for row in (await conn.execute(counts)).all():
        groups[_grouping_of(row.mask, DIMENSIONS, GROUPINGS)].append(row)

    # One verdict per (click, condition): what resolve picked there and whether it was right.
    verdicts = (
        select(
            col(Session.site).label("site"),
            col(ReplayVerdict.condition).label("condition"),
            _bucket_expr(bucket).label("bucket"),
            col(ReplayVerdict.pick).label("pick"),
            col(ReplayVerdict.outcome).label("outcome"),
        )
        .select_from(ReplayVerdict)
        .join(Event, col(Event.id) == col(ReplayVerdict.event_id))
        .join(Session, col(Session.id) == col(Event.session_id))
        .where(*filters)
        .subquery("verdicts")
    )
    outcome = verdicts.c.outcome
    picks_judged = outcome.in_(("correct", "wrong", "abstained"))
    top1_counts = select(
        *(verdicts.c[d] for d in TOP1_DIMENSIONS),
        func.grouping(*(verdicts.c[d] for d in TOP1_DIMENSIONS)).label("mask"),
        func.count().filter(picks_judged).label("pairs"),
        func.count().filter(outcome == "correct").label("correct"),
        func.count().filter(outcome == "wrong").label("wrong"),
        func.count().filter(outcome == "abstained").label("abstained"),
        func.count().filter(and_(picks_judged, verdicts.c.pick == "fingerprint")).label("fingerprint"),
        func.count().filter(not_(picks_judged)).label("unjudged"),
    ).group_by(_grouping_sets(verdicts.c, TOP1_GROUPINGS))
    top1_groups: dict[str, list[Any]] = {name: [] for name in TOP1_GROUPINGS}
    for row in (await conn.execute(top1_counts)).all():
        top1_groups[_grouping_of(row.mask, TOP1_DIMENSIONS, TOP1_GROUPINGS)].append(row)
    return _assemble(groups, top1_groups, since=since, until=until, bucket=bucket, site=site)


RELIABILITY_COUNTS = ("results", "unique", "correct", "unjudged")
TOP1_COUNTS = ("pairs", "correct", "wrong", "abstained", "fingerprint", "unjudged")


def _reliability_counts(row: Any) -> dict[str, int]:
    return {name: getattr(row, name) for name in RELIABILITY_COUNTS}


def _top1_counts(row: Any) -> dict[str, int]:
    return {name: getattr(row, name) for name in TOP1_COUNTS}


def _top1(row: Any) -> Top1:
    return Top1(**_top1_counts(row))


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
        ordered = sorted(groups[name], key=lambda r: getattr(r, key))
        return {getattr(r, key): Reliability(**_reliability_counts(r)) for r in ordered}

    def point(r: Any) -> BucketReliability:
        return BucketReliability(bucket=_as_date(r.bucket), **_reliability_counts(r))

    def series(name: str, key: str) -> dict[str, list[BucketReliability]]:
        out: dict[str, list[BucketReliability]] = {}
        for r in sorted(groups[name], key=lambda r: (getattr(r, key), r.bucket)):
            out.setdefault(getattr(r, key), []).append(point(r))
        return out

    def top1_keyed(name: str, key: str) -> dict[str, Top1]:
        return {getattr(r, key): _top1(r) for r in sorted(top1_groups[name], key=lambda r: getattr(r, key))}

    def top1_series(rows: list[Any]) -> list[BucketTop1]:
        ordered = sorted(rows, key=lambda r: r.bucket)
        return [BucketTop1(bucket=_as_date(r.bucket), **_top1_counts(r)) for r in ordered]

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
        totals=Reliability(**_reliability_counts(totals)) if totals is not None else Reliability(),
        by_kind=by_kind,
        by_site=by_site,
        by_kind_site=[
            KindSiteReliability(kind=r.kind, site=r.site, **_reliability_counts(r))
            for r in sorted(groups["by_kind_site"], key=lambda r: (r.kind, r.site))
        ],
        by_condition=keyed("by_condition", "condition"),
        by_viewport=keyed("by_viewport", "viewport"),
        by_state=keyed("by_state", "state"),
        over_time=over_time,
        over_time_by_site=series("over_time_by_site", "site"),
        over_time_by_kind=series("over_time_by_kind", "kind"),
        top1=_top1(top1_totals) if top1_totals is not None else Top1(),
        top1_by_site=top1_keyed("by_site", "site"),
        top1_by_condition=top1_keyed("by_condition", "condition"),
        top1_over_time=top1_series(top1_groups["over_time"]),
        top1_over_time_by_site={name: top1_series(rows) for name, rows in sorted(top1_by_site.items())},
    )
