"""Sessions from rules over a date range: idempotent, all-or-nothing, in bulk."""

from __future__ import annotations

import bisect
import logging
from datetime import date, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session as DB

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
from signaling.directory import SessionState

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
        for occ in occurrences(spec_of(rule), cal, start, end):
            if (rule.id, occ.starts_at) in existing:
                kept += 1
                continue
            if not host.active_on(occ.day):
                continue
            if rule.room_id is not None:
                if taken.clashes(rule.room_id, occ.starts_at, occ.ends_at):
                    skipped.append(
                        f"rule {rule.id} at {fmt_local(occ.starts_at)}: room {rule.room_id} taken"
                    )
                    continue
                taken.add(rule.room_id, occ.starts_at, occ.ends_at)
            session_id = new_id()
            sessions.append(
                {
                    "id": session_id,
                    "title": rule.title,
                    "kind": KIND[rule.kind],
                    "state": SessionState.PLANNED,
                    "host_site_id": rule.site_id,
                    "host_kind": rule.host_kind,
                    "starts_at": occ.starts_at,
                    "ends_at": occ.ends_at,
                    "rule_id": rule.id,
                    "on_day_off": occ.on_day_off,
                    "record": True,
                    "officials": list(rule.officials),
                    "agenda": "",
                    "note": "special period" if occ.on_day_off else "",
                    "created_at": now,
                }
            )
            for member in members:
                room = rule.room_id if member == rule.site_id else None
                links.append({"session_id": session_id, "site_id": member, "room_id": room})
            if rule.slot_minutes:
                slots.extend(_slot_rows(session_id, occ.starts_at, occ.ends_at, rule.slot_minutes))
    if skipped and not skip_conflicts:
        raise conflict(
            "room_taken",
            f"{len(skipped)} generated session(s) clash with booked rooms, e.g. "
            + "; ".join(skipped[:3])
            + " (set skip_conflicts to leave them out)",
        )
    if sessions:
        db.execute(insert(ReceptionSession), sessions)
        db.execute(insert(SessionSite), links)
    if slots:
        db.execute(insert(Slot), slots)
    logger.info("generated %d sessions (%d existed, %d skipped)", len(sessions), kept, len(skipped))
    return GenerationReport(len(sessions), kept, tuple(skipped))


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
