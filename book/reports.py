"""The reports the offices owe, counted in SQL: daily per site, monthly per province with
the previous month beside it, quarterly for the Government Inspectorate.

Every count is over the current version of each entry (``bk_entries.current_id``) whose
reception day falls in the period, except ``resolved`` (entries whose current version
says resolved on a day of the period) and ``watch_changes`` (watch-list history lines
written in the period, by Vietnamese day). Sessions held and online links come from the
scheduler: the web layer hands them in (:class:`SessionCounts`), the book knows no
scheduler table.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from book.models import Entry, Version, WatchEvent, WatchItem
from book.values import Channel, Kind, Outcome

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class Period(enum.StrEnum):
    DAILY = "daily"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class GroupBy(enum.StrEnum):
    SITE = "site"
    PROVINCE = "province"


@dataclass(frozen=True, slots=True)
class SessionCounts:
    """What the scheduler says about a group's sessions in a period."""

    held: int = 0
    """Sessions closed (held) that the group hosted."""
    online_links: int = 0
    """Sites linked into those sessions besides the host."""


@dataclass(slots=True)
class Counts:
    """One row of a report."""

    entries: int = 0
    people: int = 0
    crowd: int = 0
    online: int = 0
    """Entries received through an online session."""
    resolved: int = 0
    watch_changes: int = 0
    sessions_held: int = 0
    online_links: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: {str(k): 0 for k in Kind})
    by_outcome: dict[str, int] = field(
        default_factory=lambda: {**{str(o): 0 for o in Outcome}, "pending": 0}
    )

    def add(self, other: Counts) -> None:
        for name in COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.by_kind.items():
            self.by_kind[k] += v
        for k, v in other.by_outcome.items():
            self.by_outcome[k] += v

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in COUNT_FIELDS}
        out["by_kind"] = dict(self.by_kind)
        out["by_outcome"] = dict(self.by_outcome)
        return out


COUNT_FIELDS = (
    "sessions_held",
    "online_links",
    "entries",
    "people",
    "crowd",
    "online",
    "resolved",
    "watch_changes",
)


@dataclass(frozen=True, slots=True)
class Report:
    """Rows per group for one period, and the same for the period before when asked."""

    period: Period
    group_by: GroupBy
    start: date
    end: date
    """Last day included."""
    rows: dict[str, Counts]
    previous: dict[str, Counts] | None = None
    previous_start: date | None = None
    previous_end: date | None = None

    def total(self, previous: bool = False) -> Counts:
        out = Counts()
        rows = (self.previous or {}) if previous else self.rows
        for row in rows.values():
            out.add(row)
        return out

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "period": str(self.period),
            "group_by": str(self.group_by),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": {k: v.as_dict() for k, v in sorted(self.rows.items())},
            "total": self.total().as_dict(),
        }
        if self.previous is not None:
            assert self.previous_start is not None and self.previous_end is not None
            out["previous"] = {
                "start": self.previous_start.isoformat(),
                "end": self.previous_end.isoformat(),
                "rows": {k: v.as_dict() for k, v in sorted(self.previous.items())},
                "total": self.total(previous=True).as_dict(),
            }
        return out


def period_bounds(period: Period, day: date) -> tuple[date, date]:
    """The first and last day of the period that holds ``day``."""
    if period is Period.DAILY:
        return day, day
    if period is Period.MONTHLY:
        first = day.replace(day=1)
    else:
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    months = 1 if period is Period.MONTHLY else 3
    year, month = divmod(first.month - 1 + months, 12)
    return first, date(first.year + year, month + 1, 1) - timedelta(days=1)


def previous_bounds(period: Period, start: date) -> tuple[date, date]:
    return period_bounds(period, start - timedelta(days=1))


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time(0), VN_TZ).astimezone(UTC)


def count(
    engine: Engine,
    start: date,
    end: date,
    group_by: GroupBy,
    *,
    provinces: Collection[str] | None = None,
    sites: Collection[str] | None = None,
    sessions: Mapping[str, SessionCounts] | None = None,
) -> dict[str, Counts]:
    """Counts per group for the days ``start`` to ``end`` (both included), three queries."""
    key = Entry.site if group_by is GroupBy.SITE else Entry.province

    def scoped(query: Any, province: Any, site: Any) -> Any:
        if provinces is not None:
            query = query.where(province.in_(list(provinces)))
        if sites is not None:
            query = query.where(site.in_(list(sites)))
        return query

    def flag(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    columns = [
        key,
        func.count(),
        func.sum(Version.people_count),
        flag(Version.crowd.is_(True)),
        flag(Version.channel == str(Channel.ONLINE)),
        *(flag(Version.kind == str(k)) for k in Kind),
        *(flag(Version.outcome == str(o)) for o in Outcome),
        flag(Version.outcome.is_(None)),
    ]
    received = scoped(
        select(*columns)
        .select_from(Entry)
        .join(Version, Version.id == Entry.current_id)
        .where(Version.received_on >= start, Version.received_on <= end)
        .group_by(key),
        Entry.province,
        Entry.site,
    )
    resolved = scoped(
        select(key, func.count())
        .select_from(Entry)
        .join(Version, Version.id == Entry.current_id)
        .where(Version.resolved_on >= start, Version.resolved_on <= end)
        .group_by(key),
        Entry.province,
        Entry.site,
    )
    watch_key = WatchItem.site if group_by is GroupBy.SITE else WatchItem.province
    changes = scoped(
        select(watch_key, func.count())
        .select_from(WatchEvent)
        .join(WatchItem, WatchItem.id == WatchEvent.watch_id)
        .where(
            WatchEvent.at >= _local_start(start),
            WatchEvent.at < _local_start(end + timedelta(days=1)),
        )
        .group_by(watch_key),
        WatchItem.province,
        WatchItem.site,
    )
    rows: dict[str, Counts] = {}
    kinds = [str(k) for k in Kind]
    outcomes = [str(o) for o in Outcome]
    with Session(engine) as db:
        for r in db.execute(received):
            c = rows.setdefault(r[0], Counts())
            c.entries, c.people, c.crowd, c.online = int(r[1]), int(r[2]), int(r[3]), int(r[4])
            values = [int(v) for v in r[5:]]
            c.by_kind = dict(zip(kinds, values[: len(kinds)], strict=True))
            c.by_outcome = dict(
                zip(outcomes, values[len(kinds) : len(kinds) + len(outcomes)], strict=True)
            )
            c.by_outcome["pending"] = values[-1]
        for group, n in db.execute(resolved):
            rows.setdefault(group, Counts()).resolved = int(n)
        for group, n in db.execute(changes):
            rows.setdefault(group, Counts()).watch_changes = int(n)
    for group, s in (sessions or {}).items():
        if provinces is not None and group_by is GroupBy.PROVINCE and group not in provinces:
            continue
        row = rows.setdefault(group, Counts())
        row.sessions_held, row.online_links = s.held, s.online_links
    return rows


def report(
    engine: Engine,
    period: Period,
    day: date,
    *,
    provinces: Collection[str] | None = None,
    sites: Collection[str] | None = None,
    sessions: Mapping[str, SessionCounts] | None = None,
    previous_sessions: Mapping[str, SessionCounts] | None = None,
) -> Report:
    """The report of ``period`` holding ``day``: daily per site, else per province.

    A monthly report carries the previous month beside it.
    """
    start, end = period_bounds(period, day)
    group_by = GroupBy.SITE if period is Period.DAILY else GroupBy.PROVINCE
    rows = count(engine, start, end, group_by, provinces=provinces, sites=sites, sessions=sessions)
    if period is not Period.MONTHLY:
        return Report(period, group_by, start, end, rows)
    p_start, p_end = previous_bounds(period, start)
    previous = count(
        engine,
        p_start,
        p_end,
        group_by,
        provinces=provinces,
        sites=sites,
        sessions=previous_sessions,
    )
    return Report(period, group_by, start, end, rows, previous, p_start, p_end)
