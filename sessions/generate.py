"""Sessions from rules over a date range: idempotent, all-or-nothing, in bulk."""

from __future__ import annotations

import bisect
import logging
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session as DB

from core.db import Base
from core.sessions import SessionState
from sessions.booking import LIVE, fmt_local, new_id
from sessions.calendar import WorkCalendar, local_instant
from sessions.errors import conflict, invalid
from sessions.models import (
    ReceptionRule,
    ReceptionSession,
    RuleKind,
    SessionKind,
    SessionSite,
    Site,
    Slot,
)
from sessions.rules import RuleSpec, occurrences
from sessions.views import GenerationReport

logger = logging.getLogger(__name__)

MAX_DAYS = 2 * 366

KIND = {
    RuleKind.REGULAR: SessionKind.REGULAR,
    RuleKind.PERIODIC: SessionKind.PERIODIC,
    RuleKind.SPECIAL: SessionKind.SPECIAL,
}


def spec_of(rule: ReceptionRule) -> RuleSpec:
    return RuleSpec(
        rule.frequency,
        rule.start_time,
        rule.end_time,
        rule.weekday,
        rule.month_day,
        rule.valid_from,
        rule.valid_to,
    )


class _RoomBook:
    """Intervals per room, kept sorted and non-overlapping."""

    def __init__(self) -> None:
        self._starts: dict[int, list[datetime]] = {}
        self._ends: dict[int, list[datetime]] = {}

    def add(self, room: int, start: datetime, end: datetime) -> None:
        starts = self._starts.setdefault(room, [])
        ends = self._ends.setdefault(room, [])
        i = bisect.bisect_left(starts, start)
        starts.insert(i, start)
        ends.insert(i, end)

    def clashes(self, room: int, start: datetime, end: datetime) -> bool:
        starts = self._starts.get(room, [])
        ends = self._ends.get(room, [])
        i = bisect.bisect_left(starts, end)
        return any(ends[j] > start for j in range(max(0, i - 2), i))


def generate(
    db: DB,
    cal: WorkCalendar,
    start: date,
    end: date,
    site_ids: frozenset[str] | None,
    now: datetime,
    *,
    skip_conflicts: bool = False,
) -> GenerationReport:
    """Write the sessions the rules of ``site_ids`` (None: all) give from start to end."""
    if end < start:
        raise invalid("end_before_start", "the range ends before it starts")
    if (end - start).days > MAX_DAYS:
        raise invalid("range_too_long", f"generate at most {MAX_DAYS} days at once")
    query = select(ReceptionRule).order_by(ReceptionRule.id)
    if site_ids is not None:
        query = query.where(ReceptionRule.site_id.in_(site_ids))
    rules = list(db.scalars(query))
    if not rules:
        return GenerationReport(0, 0)
    lo, hi = local_instant(start, datetime.min.time()), local_instant(end, datetime.max.time())
    rule_ids = [r.id for r in rules]
    existing = {
        (rule_id, at)
        for rule_id, at in db.execute(
            select(ReceptionSession.rule_id, ReceptionSession.starts_at).where(
                ReceptionSession.rule_id.in_(rule_ids),
                ReceptionSession.starts_at >= lo,
                ReceptionSession.starts_at <= hi,
            )
        )
    }
    rooms = {r.room_id for r in rules if r.room_id is not None}
    taken = _RoomBook()
    if rooms:
        for room_id, s_at, e_at in db.execute(
            select(SessionSite.room_id, ReceptionSession.starts_at, ReceptionSession.ends_at)
            .join(ReceptionSession, ReceptionSession.id == SessionSite.session_id)
            .where(
                SessionSite.room_id.in_(rooms),
                ReceptionSession.state.in_(LIVE),
                ReceptionSession.ends_at > lo,
                ReceptionSession.starts_at < hi,
            )
        ):
            if room_id is not None:
                taken.add(room_id, s_at, e_at)
    sites = {s.id: s for s in db.scalars(select(Site))}
    sessions: list[dict[str, object]] = []
    links: list[dict[str, object]] = []
    slots: list[dict[str, object]] = []
    skipped: list[str] = []
    kept = 0
    for rule in rules:
        host = sites[rule.site_id]
        members = sorted({rule.site_id, *rule.participants})
        rule_id, room_id, site_id = rule.id, rule.room_id, rule.site_id
        title, kind, host_kind = rule.title, KIND[rule.kind], rule.host_kind
        officials, slot_minutes = list(rule.officials), rule.slot_minutes
        for occ in occurrences(spec_of(rule), cal, start, end):
            if (rule_id, occ.starts_at) in existing:
                kept += 1
                continue
            if not host.active_on(occ.day):
                continue
            if room_id is not None:
                if taken.clashes(room_id, occ.starts_at, occ.ends_at):
                    skipped.append(
                        f"rule {rule_id} at {fmt_local(occ.starts_at)}: room {room_id} taken"
                    )
                    continue
                taken.add(room_id, occ.starts_at, occ.ends_at)
            session_id = new_id()
            sessions.append(
                {
                    "id": session_id,
                    "title": title,
                    "kind": kind,
                    "state": SessionState.PLANNED,
                    "host_site_id": site_id,
                    "host_kind": host_kind,
                    "starts_at": occ.starts_at,
                    "ends_at": occ.ends_at,
                    "rule_id": rule_id,
                    "on_day_off": occ.on_day_off,
                    "record": True,
                    "officials": officials,
                    "agenda": "",
                    "note": "special period" if occ.on_day_off else "",
                    "created_at": now,
                }
            )
            for member in members:
                room = room_id if member == site_id else None
                links.append({"session_id": session_id, "site_id": member, "room_id": room})
            if slot_minutes:
                slots.extend(_slot_rows(session_id, occ.starts_at, occ.ends_at, slot_minutes))
    if skipped and not skip_conflicts:
        raise conflict(
            "room_taken",
            f"{len(skipped)} generated session(s) clash with booked rooms, e.g. "
            + "; ".join(skipped[:3])
            + " (set skip_conflicts to leave them out)",
        )
    if sessions:
        db.execute(insert(_table(ReceptionSession)), sessions)
        db.execute(insert(_table(SessionSite)), links)
    if slots:
        db.execute(insert(_table(Slot)), slots)
    logger.info("generated %d sessions (%d existed, %d skipped)", len(sessions), kept, len(skipped))
    return GenerationReport(len(sessions), kept, tuple(skipped))


def _table(model: type[Base]) -> Table:
    # Core inserts skip the ORM's per-row bookkeeping (about twice as fast in bulk).
    return cast(Table, model.__table__)


def _slot_rows(
    session_id: str, start: datetime, end: datetime, minutes: int
) -> list[dict[str, object]]:
    step = timedelta(minutes=minutes)
    out: list[dict[str, object]] = []
    at = start
    while at + step <= end:
        out.append(
            {"session_id": session_id, "starts_at": at, "ends_at": at + step, "people_count": 0}
        )
        at += step
    return out
