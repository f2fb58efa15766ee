"""The scheduler's store: every operation is one transaction, refused before any write.

Methods are synchronous (SQLAlchemy sessions); the web layer runs them in a thread.
Other parts of the system use :meth:`Store.get_session`, :meth:`Store.list_sessions`
and :meth:`Store.set_state`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import selectinload

from core.db import Transactions
from core.ids import SiteId
from core.sessions import SessionState, SiteInfo
from sessions import booking, sitetree
from sessions.calendar import DayInfo, Override, WorkCalendar
from sessions.checks import BookingCheck, request_problem
from sessions.errors import conflict, invalid, not_found
from sessions.generate import generate
from sessions.models import (
    CalendarOverride,
    ReceptionRule,
    ReceptionSession,
    Room,
    SessionSite,
    Site,
    SiteLevel,
)
from sessions.requests import RuleRequest, SessionDraft, SessionRequest, SiteInput, SlotBooking
from sessions.sitetree import Scope, check_scope
from sessions.views import GenerationReport, RoomView, RuleView, SessionView, SiteView

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Store(Transactions):
    """Sites, calendar, rules and sessions in one database."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(engine)
        self.clock = clock
        self._calendar: WorkCalendar | None = None

    # calendar

    def calendar(self) -> WorkCalendar:
        """The working-day calendar with the stored overrides (rebuilt when they change)."""
        with self.read() as db:
            overrides = {
                o.day: Override(o.working, o.note) for o in db.scalars(select(CalendarOverride))
            }
        if self._calendar is None or self._calendar.overrides != overrides:
            self._calendar = WorkCalendar(overrides)
        return self._calendar

    def days(self, start: date, end: date) -> list[DayInfo]:
        if end < start:
            raise invalid("end_before_start", "the range ends before it starts")
        if (end - start).days > 800:
            raise invalid("range_too_long", "ask for at most 800 days")
        cal = self.calendar()
        return [cal.describe(start + timedelta(days=n)) for n in range((end - start).days + 1)]

    def list_overrides(self) -> dict[date, Override]:
        return self.calendar().overrides

    def set_override(self, day: date, working: bool, note: str) -> None:
        with self.write() as db:
            row = db.get(CalendarOverride, day) or CalendarOverride(day=day)
            row.working, row.note = working, note
            db.add(row)

    def delete_override(self, day: date) -> None:
        with self.write() as db:
            row = db.get(CalendarOverride, day)
            if row is None:
                raise not_found("unknown_override", f"no override on {day.isoformat()}")
            db.delete(row)

    # sites

    def site_count(self) -> int:
        with self.read() as db:
            return int(db.scalar(select(func.count()).select_from(Site)) or 0)

    def list_sites(
        self, *, on: date | None = None, level: SiteLevel | None = None
    ) -> list[SiteView]:
        with self.read() as db:
            query = select(Site).options(selectinload(Site.rooms)).order_by(Site.id)
            if level is not None:
                query = query.where(Site.level == level)
            views = [SiteView.of(s) for s in db.scalars(query)]
        return [v for v in views if on is None or v.active_on(on)]

    def get_site(self, site_id: str) -> SiteView | None:
        with self.read() as db:
            row = db.get(Site, site_id, options=[selectinload(Site.rooms)])
            return SiteView.of(row) if row else None

    def site_names(self, site_ids: frozenset[str] | set[str]) -> dict[SiteId, SiteInfo]:
        with self.read() as db:
            rows = db.scalars(select(Site).where(Site.id.in_(site_ids)))
            return {SiteId(s.id): SiteInfo(SiteId(s.id), s.name, s.name_en) for s in rows}

    def put_sites(self, inputs: list[SiteInput], scope: Scope = None) -> list[SiteView]:
        with self.write() as db:
            rows = sitetree.put_sites(db, inputs, scope)
            return [SiteView.of(r) for r in rows]

    def load_tree(self, path: Path = sitetree.DEFAULT_TREE) -> int:
        """Load a TOML site tree (create or replace each site); returns how many."""
        inputs = sitetree.read_tree_file(path)
        self.put_sites(inputs)
        logger.info("loaded %d sites from %s", len(inputs), path)
        return len(inputs)

    def load_tree_text(
        self, text: str, scope: Scope = None, source: str = "site tree"
    ) -> list[SiteView]:
        """As :meth:`load_tree` from a TOML document given as text, all or nothing;
        ``scope`` limits which sites it may create or replace and hang them under."""
        inputs = sitetree.parse_tree_text(text, source)
        views = self.put_sites(inputs, scope)
        logger.info("loaded %d sites from %s", len(views), source)
        return views

    def add_room(self, site_id: str, name: str, scope: Scope = None) -> RoomView:
        if not name.strip() or len(name) > 100:
            raise invalid("bad_room_name", "a room needs a name of 1-100 characters")
        with self.write() as db:
            site = db.get(Site, site_id)
            if site is None:
                raise not_found("unknown_site", f"site {site_id} does not exist")
            check_scope(scope, {site_id})
            if any(r.name == name for r in site.rooms):
                raise conflict("duplicate_room", f"site {site_id} has a room {name!r}")
            room = Room(site_id=site_id, name=name.strip())
            db.add(room)
            db.flush()
            return RoomView(room.id, site_id, room.name)

    def scope_for(self, site_id: str) -> Scope:
        """Sites a scheduler acting for ``site_id`` may touch (None: all)."""
        with self.read() as db:
            return sitetree.scope_for(db, site_id)

    def scope_of(self, site_id: str) -> tuple[str | None, Scope]:
        """The root of ``site_id``'s scope (None: central) and its sites (None: all)."""
        with self.read() as db:
            root = sitetree.scope_root(db, site_id)
            return root, None if root is None else sitetree.subtree(db, root)

    def subtree(self, site_id: str) -> frozenset[str]:
        with self.read() as db:
            return sitetree.subtree(db, site_id)

    # rules

    def add_rule(self, req: RuleRequest, scope: Scope = None) -> RuleView:
        with self.write() as db:
            members = {req.site_id, *req.participants}
            known = set(db.scalars(select(Site.id).where(Site.id.in_(members))))
            if members - known:
                raise invalid(
                    "unknown_site", f"unknown site(s): {', '.join(sorted(members - known))}"
                )
            check_scope(scope, members)
            if req.room_id is not None:
                room = db.get(Room, req.room_id)
                if room is None or room.site_id != req.site_id:
                    raise invalid(
                        "unknown_room", f"room {req.room_id} is not a room of site {req.site_id}"
                    )
            spec = req.spec
            rule = ReceptionRule(
                site_id=req.site_id,
                title=req.title.strip(),
                kind=req.kind,
                frequency=spec.frequency,
                host_kind=req.host_kind,
                weekday=spec.weekday,
                month_day=spec.month_day,
                start_time=spec.start_time,
                end_time=spec.end_time,
                valid_from=spec.valid_from,
                valid_to=spec.valid_to,
                room_id=req.room_id,
                participants=list(req.participants),
                officials=list(req.officials),
                slot_minutes=req.slot_minutes,
            )
            db.add(rule)
            db.flush()
            return RuleView.of(rule)

    def list_rules(self, site_ids: frozenset[str] | None = None) -> list[RuleView]:
        with self.read() as db:
            query = select(ReceptionRule).order_by(ReceptionRule.id)
            if site_ids is not None:
                query = query.where(ReceptionRule.site_id.in_(site_ids))
            return [RuleView.of(r) for r in db.scalars(query)]

    def delete_rule(self, rule_id: int, scope: Scope = None) -> None:
        """Remove a rule; its planned future sessions go, past ones stay (detached)."""
        with self.write() as db:
            rule = db.get(ReceptionRule, rule_id)
            if rule is None:
                raise not_found("unknown_rule", f"rule {rule_id} does not exist")
            check_scope(scope, {rule.site_id})
            now = self.clock()
            for row in db.scalars(
                select(ReceptionSession).where(ReceptionSession.rule_id == rule_id)
            ):
                if row.state is SessionState.PLANNED and row.starts_at > now:
                    db.delete(row)
                else:
                    row.rule_id = None
            db.flush()
            db.delete(rule)

    def generate(
        self,
        start: date,
        end: date,
        scope: Scope = None,
        *,
        site_id: str | None = None,
        skip_conflicts: bool = False,
    ) -> GenerationReport:
        """Sessions from the rules of ``site_id``'s subtree (or of the scope, or all)."""
        cal = self.calendar()
        with self.write() as db:
            sites = scope
            if site_id is not None:
                if db.get(Site, site_id) is None:
                    raise invalid("unknown_site", f"site {site_id} does not exist")
                check_scope(scope, {site_id})
                sites = sitetree.subtree(db, site_id)
            return generate(db, cal, start, end, sites, self.clock(), skip_conflicts=skip_conflicts)

    # sessions

    def book(self, req: SessionRequest, scope: Scope = None) -> SessionView:
        cal = self.calendar()
        with self.write() as db:
            return SessionView.of(booking.book(db, cal, req, scope, self.clock()))

    def check(self, draft: SessionDraft, scope: Scope = None) -> BookingCheck:
        """A dry run of :meth:`book`: every reason it would refuse the booking, by the
        same checks, in the order it checks them. Writes and locks nothing."""
        problems = tuple(request_problem(r) for r in draft.refusals)
        if draft.request is None:
            return BookingCheck(problems)
        cal = self.calendar()
        with self.read() as db:
            found = booking.find_problems(db, cal, draft.request, scope, self.clock(), lock=False)
        return replace(found, problems=problems + found.problems)

    def get_session(self, session_id: str) -> SessionView | None:
        """The session with its sites and slots, or None."""
        with self.read() as db:
            row = db.scalars(
                select(ReceptionSession)
                .where(ReceptionSession.id == session_id)
                .options(selectinload(ReceptionSession.sites), selectinload(ReceptionSession.slots))
            ).first()
            return SessionView.of(row) if row else None

    def list_sessions(
        self,
        start: datetime,
        end: datetime,
        *,
        site_ids: frozenset[str] | None = None,
        states: frozenset[SessionState] | None = None,
        limit: int = 2000,
    ) -> list[SessionView]:
        """Sessions overlapping [start, end) in which one of ``site_ids`` takes part."""
        if end <= start:
            raise invalid("end_before_start", "the range ends before it starts")
        with self.read() as db:
            query = (
                select(ReceptionSession)
                .where(ReceptionSession.starts_at < end, ReceptionSession.ends_at > start)
                .options(selectinload(ReceptionSession.sites), selectinload(ReceptionSession.slots))
                .order_by(ReceptionSession.starts_at, ReceptionSession.id)
                .limit(limit)
            )
            if site_ids is not None:
                query = query.where(
                    ReceptionSession.id.in_(
                        select(SessionSite.session_id).where(SessionSite.site_id.in_(site_ids))
                    )
                )
            if states is not None:
                query = query.where(ReceptionSession.state.in_(states))
            return [SessionView.of(r) for r in db.scalars(query)]

    def open_sessions(self, *, ended_before: datetime | None = None) -> list[SessionView]:
        """Sessions open now; with ``ended_before``, only those scheduled to end before it."""
        with self.read() as db:
            query = (
                select(ReceptionSession)
                .where(ReceptionSession.state == SessionState.OPEN)
                .options(selectinload(ReceptionSession.sites), selectinload(ReceptionSession.slots))
                .order_by(ReceptionSession.ends_at, ReceptionSession.id)
            )
            if ended_before is not None:
                query = query.where(ReceptionSession.ends_at <= ended_before)
            return [SessionView.of(r) for r in db.scalars(query)]

    def set_state(
        self, session_id: str, state: SessionState, scope: Scope = None, note: str = ""
    ) -> SessionView:
        """Open, close or cancel a session (planned → open → closed; planned → cancelled)."""
        with self.write() as db:
            return SessionView.of(booking.set_state(db, session_id, state, scope, note))

    def book_slot(
        self, session_id: str, slot_id: int, req: SlotBooking, scope: Scope = None
    ) -> SessionView:
        with self.write() as db:
            row = booking.book_slot(db, session_id, slot_id, req, scope, self.clock())
            return SessionView.of(row)
