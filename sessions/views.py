"""What the store hands out: immutable values, detached from the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from core.ids import SessionId, SiteId
from core.sessions import SessionInfo, SessionState, SiteInfo
from sessions.calendar import VN_TZ
from sessions.models import (
    Frequency,
    HostKind,
    ReceptionRule,
    ReceptionSession,
    RuleKind,
    SessionKind,
    Site,
    SiteLevel,
    Slot,
)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, slots=True)
class RoomView:
    id: int
    """Room id (used in bookings)."""
    site_id: str
    """Site the room belongs to."""
    name: str
    """Room name, unique within the site."""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "site": self.site_id, "name": self.name}


@dataclass(frozen=True, slots=True)
class SiteView:
    id: str
    """Stable ascii id."""
    name: str
    """Vietnamese name."""
    name_en: str
    """English name."""
    level: SiteLevel
    """central, province, district (legacy), commune or department."""
    parent_id: str | None
    """Parent site, None at the top."""
    valid_from: date | None
    """First day the site exists (None: always)."""
    valid_to: date | None
    """Last day the site exists (None: still exists)."""
    merged_into_id: str | None
    """The site that took over a merged one."""
    address: str
    """Where citizens go."""
    rooms: tuple[RoomView, ...] = ()
    """Reception rooms."""

    @classmethod
    def of(cls, site: Site) -> SiteView:
        return cls(
            site.id,
            site.name,
            site.name_en,
            site.level,
            site.parent_id,
            site.valid_from,
            site.valid_to,
            site.merged_into_id,
            site.address,
            tuple(RoomView(r.id, r.site_id, r.name) for r in site.rooms),
        )

    def active_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    def info(self) -> SiteInfo:
        return SiteInfo(SiteId(self.id), self.name, self.name_en)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "level": str(self.level),
            "parent": self.parent_id,
            "valid_from": _day(self.valid_from),
            "valid_to": _day(self.valid_to),
            "merged_into": self.merged_into_id,
            "address": self.address,
            "rooms": [r.as_dict() for r in self.rooms],
        }


@dataclass(frozen=True, slots=True)
class SlotView:
    id: int
    """Slot id."""
    starts_at: datetime
    """Start (UTC)."""
    ends_at: datetime
    """End (UTC)."""
    booked: bool
    """Taken by a citizen or delegation."""
    citizen_name: str | None = None
    """Who booked it: confidential, never on public views."""
    case_kind: str | None = None
    """complaint, denunciation, petition or mixed."""
    case_ref: str | None = None
    """The case's reference in the reception book."""
    people_count: int = 0
    """Number of people (5 or more: a crowd case)."""

    @classmethod
    def of(cls, slot: Slot) -> SlotView:
        return cls(
            slot.id,
            slot.starts_at,
            slot.ends_at,
            slot.booked_at is not None,
            slot.citizen_name,
            slot.case_kind,
            slot.case_ref,
            slot.people_count,
        )

    def as_dict(self, *, public: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "booked": self.booked,
        }
        if not public:
            out.update(
                citizen_name=self.citizen_name,
                case_kind=self.case_kind,
                case_ref=self.case_ref,
                people_count=self.people_count,
            )
        return out


@dataclass(frozen=True, slots=True)
class SessionSiteView:
    site_id: str
    """Participating site."""
    room_id: int | None
    """Its booked room, if any."""


@dataclass(frozen=True, slots=True)
class SessionView:
    id: str
    """Session id."""
    title: str
    """Title (Vietnamese)."""
    kind: SessionKind
    """regular, periodic, ad_hoc or special."""
    state: SessionState
    """planned, open, closed or cancelled."""
    host_site_id: str
    """Site whose operators run the session."""
    host_kind: HostKind
    """Who receives: the head or reception staff."""
    starts_at: datetime
    """Start (UTC)."""
    ends_at: datetime
    """End (UTC)."""
    rule_id: int | None
    """Rule that generated it (None: booked ad hoc)."""
    on_day_off: bool
    """Held on a day off (special period or explicit booking)."""
    record: bool
    """Recorded from its opening."""
    officials: tuple[str, ...]
    """Who receives, by name and position."""
    agenda: str
    """Tentative agenda."""
    note: str
    """Why it was marked or cancelled."""
    sites: tuple[SessionSiteView, ...]
    """Participating sites, the host included."""
    slots: tuple[SlotView, ...] = field(default=(), compare=False)
    """Bookable slots for citizens."""

    @classmethod
    def of(cls, row: ReceptionSession, *, with_slots: bool = True) -> SessionView:
        return cls(
            row.id,
            row.title,
            row.kind,
            row.state,
            row.host_site_id,
            row.host_kind,
            row.starts_at,
            row.ends_at,
            row.rule_id,
            row.on_day_off,
            row.record,
            tuple(row.officials or ()),
            row.agenda,
            row.note,
            tuple(SessionSiteView(s.site_id, s.room_id) for s in row.sites),
            tuple(SlotView.of(s) for s in row.slots) if with_slots else (),
        )

    @property
    def site_ids(self) -> frozenset[str]:
        return frozenset(s.site_id for s in self.sites)

    def info(self, names: dict[SiteId, SiteInfo] | None = None) -> SessionInfo:
        """The session as the media path sees it."""
        return SessionInfo(
            id=SessionId(self.id),
            title=self.title,
            host_site=SiteId(self.host_site_id),
            sites=frozenset(SiteId(s) for s in self.site_ids),
            state=self.state,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            record=self.record,
            site_names=dict(names or {}),
        )

    def as_dict(self, *, public: bool = False) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "kind": str(self.kind),
            "state": str(self.state),
            "host_site": self.host_site_id,
            "host_kind": str(self.host_kind),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "starts_at_local": self.starts_at.astimezone(VN_TZ).isoformat(),
            "ends_at_local": self.ends_at.astimezone(VN_TZ).isoformat(),
            "rule": self.rule_id,
            "on_day_off": self.on_day_off,
            "record": self.record,
            "officials": list(self.officials),
            "agenda": self.agenda,
            "note": self.note,
            "sites": [{"site": s.site_id, "room_id": s.room_id} for s in self.sites],
            "slots": [s.as_dict(public=public) for s in self.slots],
        }


@dataclass(frozen=True, slots=True)
class RuleView:
    id: int
    """Rule id."""
    site_id: str
    """Host site."""
    title: str
    """Title of the sessions it gives."""
    kind: RuleKind
    """regular, periodic or special."""
    frequency: Frequency
    """working_days, weekly, monthly or daily."""
    host_kind: HostKind
    """head or staff."""
    weekday: int | None
    """Weekly rules: 0 = Monday."""
    month_day: int | None
    """Monthly rules: day of month."""
    start_time: time
    """Local start."""
    end_time: time
    """Local end."""
    valid_from: date | None
    """First day it applies."""
    valid_to: date | None
    """Last day it applies."""
    room_id: int | None
    """Host room booked for its sessions."""
    participants: tuple[str, ...]
    """Other participating sites."""
    officials: tuple[str, ...]
    """Who receives."""
    slot_minutes: int | None
    """Length of citizens' slots in its sessions (None: no slots)."""

    @classmethod
    def of(cls, rule: ReceptionRule) -> RuleView:
        return cls(
            rule.id,
            rule.site_id,
            rule.title,
            rule.kind,
            rule.frequency,
            rule.host_kind,
            rule.weekday,
            rule.month_day,
            rule.start_time,
            rule.end_time,
            rule.valid_from,
            rule.valid_to,
            rule.room_id,
            tuple(rule.participants or ()),
            tuple(rule.officials or ()),
            rule.slot_minutes,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site_id,
            "title": self.title,
            "kind": str(self.kind),
            "frequency": str(self.frequency),
            "host_kind": str(self.host_kind),
            "weekday": self.weekday,
            "month_day": self.month_day,
            "start_time": self.start_time.strftime("%H:%M"),
            "end_time": self.end_time.strftime("%H:%M"),
            "valid_from": _day(self.valid_from),
            "valid_to": _day(self.valid_to),
            "room_id": self.room_id,
            "participants": list(self.participants),
            "officials": list(self.officials),
            "slot_minutes": self.slot_minutes,
        }


@dataclass(frozen=True, slots=True)
class GenerationReport:
    created: int
    """Sessions written."""
    existing: int
    """Sessions already there (generation is idempotent)."""
    skipped: tuple[str, ...] = ()
    """Occurrences left out because their room was taken (with skip_conflicts)."""

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "existing": self.existing, "skipped": list(self.skipped)}
