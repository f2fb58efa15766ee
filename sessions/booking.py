"""Booking sessions and slots: sites, rooms, days off and state changes checked first."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import selectinload

from core.sessions import SessionState
from sessions.calendar import VN_TZ, WorkCalendar, local_day
from sessions.checks import BookingCheck, Clash, Problem
from sessions.errors import Refusal, conflict, not_found
from sessions.models import (
    ReceptionRule,
    ReceptionSession,
    Room,
    RuleKind,
    SessionSite,
    Site,
    SiteLevel,
    Slot,
)
from sessions.requests import SessionRequest, SlotBooking
from sessions.sitetree import Scope, ancestors, check_scope, outside_scope, scope_refusal

logger = logging.getLogger(__name__)

LIVE = (SessionState.PLANNED, SessionState.OPEN)
"""States in which a session holds its rooms."""

TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.PLANNED: frozenset({SessionState.OPEN, SessionState.CANCELLED}),
    SessionState.OPEN: frozenset({SessionState.CLOSED}),
    SessionState.CLOSED: frozenset(),
    SessionState.CANCELLED: frozenset(),
}


def new_id() -> str:
    return uuid.uuid4().hex


def local_days(start: datetime, end: datetime) -> list[date]:
    """Vietnamese dates a session touches (its last instant excluded)."""
    first, last = local_day(start), local_day(end - timedelta(microseconds=1))
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def fmt_local(instant: datetime) -> str:
    return instant.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M")


def load_session(db: DB, session_id: str, *, lock: bool = False) -> ReceptionSession:
    query = (
        select(ReceptionSession)
        .where(ReceptionSession.id == session_id)
        .options(selectinload(ReceptionSession.sites), selectinload(ReceptionSession.slots))
    )
    if lock:
        query = query.with_for_update()
    row = db.scalars(query).first()
    if row is None:
        raise not_found("unknown_session", f"session {session_id} does not exist")
    return row


def special_period_covers(db: DB, host_site_id: str, day: date) -> ReceptionRule | None:
    """A special period on ``day`` at the host, one of its parents, or a central site."""
    chain = {s.id for s in ancestors(db, host_site_id)}
    central = select(Site.id).where(Site.level == SiteLevel.CENTRAL)
    rows = db.scalars(
        select(ReceptionRule).where(
            ReceptionRule.kind == RuleKind.SPECIAL,
            ReceptionRule.valid_from <= day,
            ReceptionRule.valid_to >= day,
            ReceptionRule.site_id.in_(chain) | ReceptionRule.site_id.in_(central),
        )
    ).first()
    return rows


def day_problems(
    db: DB, cal: WorkCalendar, host_site_id: str, days: Iterable[date], allow_day_off: bool
) -> tuple[list[Problem], str, str]:
    """Days off outside special periods as problems; the mark a day-off session gets, and
    the title of the special period that allows it (if one does)."""
    problems = []
    notes = []
    period_title = ""
    for day in days:
        if cal.is_working_day(day):
            continue
        info = cal.describe(day)
        why = info.reason or "day off"
        period = special_period_covers(db, host_site_id, day)
        if period is not None:
            notes.append(f"{day.isoformat()} is a day off ({why}); special period: {period.title}")
            period_title = period_title or period.title
        elif allow_day_off:
            notes.append(f"{day.isoformat()} is a day off ({why}); booked explicitly")
        else:
            problems.append(
                Problem(
                    Refusal.CONFLICT,
                    "day_off",
                    f"{day.isoformat()} is a day off ({why}) and no special period covers it; "
                    "set allow_day_off to book it anyway",
                    field="starts_at",
                    day=info,
                )
            )
    return problems, "; ".join(notes), period_title


def room_conflicts(
    db: DB, room_ids: set[int], start: datetime, end: datetime
) -> list[tuple[int, ReceptionSession]]:
    """Planned or open sessions overlapping [start, end) that use one of ``room_ids``,
    earliest first."""
    if not room_ids:
        return []
    rows = db.execute(
        select(SessionSite.room_id, ReceptionSession)
        .join(ReceptionSession, ReceptionSession.id == SessionSite.session_id)
        .where(
            SessionSite.room_id.in_(room_ids),
            ReceptionSession.state.in_(LIVE),
            ReceptionSession.starts_at < end,
            ReceptionSession.ends_at > start,
        )
        .order_by(ReceptionSession.starts_at, SessionSite.room_id, ReceptionSession.id)
    ).all()
    return [(room_id, session) for room_id, session in rows if room_id is not None]


def site_conflicts(
    db: DB, rooms: dict[str, int | None], start: datetime, end: datetime
) -> list[tuple[ReceptionSession, tuple[str, ...]]]:
    """Planned or open sessions overlapping [start, end) that already hold one of the
    sites of ``rooms`` (site id to the room asked for it, if any), with the sites they
    share, earliest first.

    A site takes part in one reception at a time unless both sessions name a room of
    it, and different rooms: when either names none, the site itself is taken (the same
    room named twice is :func:`room_conflicts`' ``room_taken``).
    """
    if not rooms:
        return []
    rows = db.execute(
        select(SessionSite.site_id, SessionSite.room_id, ReceptionSession)
        .join(ReceptionSession, ReceptionSession.id == SessionSite.session_id)
        .where(
            SessionSite.site_id.in_(rooms),
            ReceptionSession.state.in_(LIVE),
            ReceptionSession.starts_at < end,
            ReceptionSession.ends_at > start,
        )
        .order_by(ReceptionSession.starts_at, ReceptionSession.id, SessionSite.site_id)
    ).all()
    shared: dict[str, list[str]] = {}
    sessions: dict[str, ReceptionSession] = {}
    for site_id, room_id, other in rows:
        if room_id is not None and rooms[site_id] is not None:
            continue
        sessions[other.id] = other
        shared.setdefault(other.id, []).append(site_id)
    return [(sessions[i], tuple(sorted(shared[i]))) for i in shared]


def make_slots(start: datetime, end: datetime, minutes: int) -> list[Slot]:
    step = timedelta(minutes=minutes)
    out = []
    at = start
    while at + step <= end:
        out.append(Slot(starts_at=at, ends_at=at + step, people_count=0))
        at += step
    return out


def _site_field(req: SessionRequest, site_ids: Iterable[str]) -> str:
    return "host_site" if req.host_site_id in set(site_ids) else "participants"


def find_problems(
    db: DB, cal: WorkCalendar, req: SessionRequest, scope: Scope, now: datetime, *, lock: bool
) -> BookingCheck:
    """Every reason :func:`book` would refuse ``req``, in the order it checks them.

    With ``lock`` the requested rooms are locked until the transaction ends, so two
    bookings of one room serialise (PostgreSQL; SQLite writers are serialised by BEGIN
    IMMEDIATE). Writes nothing.
    """
    problems: list[Problem] = []
    site_ids = req.site_ids
    site_query = select(Site).where(Site.id.in_(site_ids)).order_by(Site.id)
    # Locked like the rooms: two bookings of one site without rooms serialise too.
    sites = {s.id: s for s in db.scalars(site_query.with_for_update() if lock else site_query)}
    unknown = sorted(site_ids - set(sites))
    if unknown:
        problems.append(
            Problem(
                Refusal.INVALID,
                "unknown_site",
                f"unknown site(s): {', '.join(unknown)}",
                field=_site_field(req, unknown),
                sites=tuple(unknown),
            )
        )
    outside = outside_scope(scope, site_ids)
    if outside:
        refusal = scope_refusal(outside)
        problems.append(
            Problem(
                refusal.kind,
                refusal.code,
                refusal.message,
                field=_site_field(req, outside),
                sites=tuple(outside),
            )
        )
    days = local_days(req.starts_at, req.ends_at)
    for site_id in sorted(sites):
        site = sites[site_id]
        gone = next((day for day in days if not site.active_on(day)), None)
        if gone is not None:
            after = f"; merged into {site.merged_into_id}" if site.merged_into_id else ""
            problems.append(
                Problem(
                    Refusal.INVALID,
                    "site_inactive",
                    f"site {site.id} does not exist on {gone.isoformat()}{after}",
                    field=_site_field(req, [site.id]),
                    sites=(site.id,),
                    day=cal.describe(gone),
                )
            )
    if req.ends_at <= now:
        problems.append(
            Problem(Refusal.INVALID, "in_the_past", "the session would end before now", "starts_at")
        )
    rooms: dict[str, int | None] = {p.site_id: p.room_id for p in req.participants}
    room_ids = {r for r in rooms.values() if r is not None}
    if room_ids:
        query = select(Room).where(Room.id.in_(room_ids)).order_by(Room.id)
        found = {r.id: r for r in db.scalars(query.with_for_update() if lock else query)}
        valid = set()
        for site_id, room_id in sorted(rooms.items()):
            if room_id is None:
                continue
            room = found.get(room_id)
            if room is None or room.site_id != site_id:
                problems.append(
                    Problem(
                        Refusal.INVALID,
                        "unknown_room",
                        f"room {room_id} is not a room of site {site_id}",
                        field=_site_field(req, [site_id]),
                        sites=(site_id,),
                        room_id=room_id,
                    )
                )
            else:
                valid.add(room_id)
        for room_id, other in room_conflicts(db, valid, req.starts_at, req.ends_at):
            room = found[room_id]
            problems.append(
                Problem(
                    Refusal.CONFLICT,
                    "room_taken",
                    f"room '{room.name}' of {room.site_id} is already booked "
                    f"{fmt_local(other.starts_at)}–{fmt_local(other.ends_at)} "
                    f"(Asia/Ho_Chi_Minh) by session {other.id} '{other.title}'",
                    field=_site_field(req, [room.site_id]),
                    sites=(room.site_id,),
                    room_id=room.id,
                    room_name=room.name,
                    clash=Clash(
                        other.id, other.title, other.host_site_id, other.starts_at, other.ends_at
                    ),
                )
            )
    known = {site_id: rooms.get(site_id) for site_id in sorted(site_ids) if site_id in sites}
    for other, busy in site_conflicts(db, known, req.starts_at, req.ends_at):
        problems.append(
            Problem(
                Refusal.CONFLICT,
                "site_busy",
                f"{', '.join(busy)} already take(s) part in session {other.id} '{other.title}' "
                f"{fmt_local(other.starts_at)}–{fmt_local(other.ends_at)} (Asia/Ho_Chi_Minh); "
                "a site without a named room receives in one session at a time",
                field=_site_field(req, busy),
                sites=busy,
                clash=Clash(
                    other.id, other.title, other.host_site_id, other.starts_at, other.ends_at
                ),
            )
        )
    off, note, period = day_problems(db, cal, req.host_site_id, days, req.allow_day_off)
    problems.extend(off)
    return BookingCheck(
        problems=tuple(problems),
        on_day_off=bool(note),
        note=note,
        days=tuple(cal.describe(day) for day in days),
        special_period=period,
    )


def book(
    db: DB, cal: WorkCalendar, req: SessionRequest, scope: Scope, now: datetime
) -> ReceptionSession:
    """Write one session after every check of :func:`find_problems`; raise the first
    problem before writing anything."""
    check = find_problems(db, cal, req, scope, now, lock=True)
    if check.problems:
        raise check.problems[0].error()
    rooms: dict[str, int | None] = {p.site_id: p.room_id for p in req.participants}
    row = ReceptionSession(
        id=new_id(),
        title=req.title.strip(),
        kind=req.kind,
        state=SessionState.PLANNED,
        host_site_id=req.host_site_id,
        host_kind=req.host_kind,
        starts_at=req.starts_at.astimezone(UTC),
        ends_at=req.ends_at.astimezone(UTC),
        rule_id=None,
        on_day_off=check.on_day_off,
        record=req.record,
        officials=list(req.officials),
        agenda=req.agenda,
        note=check.note,
        created_at=now,
    )
    row.sites = [SessionSite(site_id=s, room_id=rooms.get(s)) for s in sorted(req.site_ids)]
    if req.slot_minutes:
        row.slots = make_slots(row.starts_at, row.ends_at, req.slot_minutes)
    db.add(row)
    db.flush()
    logger.info(
        "session %s booked: host %s, sites %s", row.id, row.host_site_id, sorted(req.site_ids)
    )
    return row


def set_state(
    db: DB, session_id: str, state: SessionState, scope: Scope, note: str = ""
) -> ReceptionSession:
    row = load_session(db, session_id, lock=True)
    check_scope(scope, {row.host_site_id})
    if state not in TRANSITIONS[row.state]:
        raise conflict(
            "bad_transition", f"session {session_id} is {row.state} and cannot become {state}"
        )
    row.state = state
    if note:
        row.note = (row.note + "; " if row.note else "") + note
    db.flush()
    logger.info("session %s is now %s", session_id, state)
    return row


def book_slot(
    db: DB, session_id: str, slot_id: int, booking: SlotBooking, scope: Scope, now: datetime
) -> ReceptionSession:
    row = load_session(db, session_id, lock=True)
    sites = {s.site_id for s in row.sites}
    if scope is not None and not sites & scope:
        # Staff of any taking-part site may book their citizens into its slots.
        check_scope(scope, sites)
    if row.state in (SessionState.CLOSED, SessionState.CANCELLED):
        raise conflict("session_over", f"session {session_id} is {row.state}")
    slot = next((s for s in row.slots if s.id == slot_id), None)
    if slot is None:
        raise not_found("unknown_slot", f"session {session_id} has no slot {slot_id}")
    if slot.booked_at is not None:
        raise conflict("slot_taken", f"slot {slot_id} of session {session_id} is already booked")
    slot.citizen_name = booking.citizen_name.strip()
    slot.case_kind = booking.case_kind
    slot.case_ref = booking.case_ref or None
    slot.people_count = booking.people_count
    slot.booked_at = now
    db.flush()
    return row
