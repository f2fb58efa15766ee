"""What callers ask the store for, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sessions.errors import ScheduleError, invalid
from sessions.models import HostKind, RuleKind, SessionKind, SiteLevel
from sessions.rules import RuleSpec

MAX_SESSION = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class SiteInput:
    """A site to create or replace."""

    id: str
    """Stable ascii id (letters, digits, dashes)."""
    name: str
    """Vietnamese name."""
    level: SiteLevel
    """Level in the tree."""
    parent_id: str | None = None
    """Parent site id."""
    name_en: str = ""
    """English name."""
    valid_from: date | None = None
    """First day the site exists."""
    valid_to: date | None = None
    """Last day the site exists."""
    merged_into_id: str | None = None
    """Site that took it over."""
    address: str = ""
    """Where citizens go."""
    rooms: tuple[str, ...] = ()
    """Names of its reception rooms (added if missing, never removed here)."""

    def __post_init__(self) -> None:
        if (
            not self.id
            or len(self.id) > 64
            or not all(c.isascii() and (c.isalnum() or c == "-") for c in self.id)
        ):
            raise invalid(
                "bad_site_id", f"site id must be 1-64 ascii letters, digits or dashes: {self.id!r}"
            )
        if self.id != self.id.lower():
            raise invalid("bad_site_id", f"site id must be lower case: {self.id!r}")
        if not self.name.strip():
            raise invalid("missing_name", f"site {self.id} needs a name")
        if self.parent_id == self.id or self.merged_into_id == self.id:
            raise invalid("site_cycle", f"site {self.id} cannot be its own parent or successor")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise invalid("end_before_start", f"site {self.id}: valid_to is before valid_from")
        if len(set(self.rooms)) != len(self.rooms):
            raise invalid("duplicate_room", f"site {self.id} names a room twice")


@dataclass(frozen=True, slots=True)
class Participant:
    """A site taking part in a session, with the room it will use."""

    site_id: str
    """Site id."""
    room_id: int | None = None
    """One of the site's rooms, booked for the session."""


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """An ad-hoc booking (or a session created by hand)."""

    title: str
    """Title (Vietnamese)."""
    host_site_id: str
    """Site whose operators run it (usually the central office)."""
    starts_at: datetime
    """Start, aware."""
    ends_at: datetime
    """End, aware, after the start."""
    participants: tuple[Participant, ...] = ()
    """Sites taking part; the host may be listed to book its room."""
    kind: SessionKind = SessionKind.AD_HOC
    """Usually ad hoc."""
    host_kind: HostKind = HostKind.HEAD
    """Who receives."""
    officials: tuple[str, ...] = ()
    """Who receives, by name and position."""
    agenda: str = ""
    """Tentative agenda."""
    allow_day_off: bool = False
    """Book on a day off although no special period covers it (marked)."""
    slot_minutes: int | None = None
    """Cut the session into citizens' slots of this length."""
    record: bool = True
    """Record from opening."""

    def __post_init__(self) -> None:
        refusals = session_refusals(
            self.title, self.starts_at, self.ends_at, self.participants, self.slot_minutes
        )
        if refusals:
            raise refusals[0]

    @property
    def site_ids(self) -> frozenset[str]:
        return frozenset({self.host_site_id, *(p.site_id for p in self.participants)})

    @classmethod
    def draft(cls, **fields: Any) -> SessionDraft:
        """The request as a form holds it while it is being filled: every refusal of the
        request in itself, and a request the store can still check when the times and
        sites make sense (a blank title or a bad slot length is set aside for the check).
        ``fields`` are this class's fields."""
        refusals = session_refusals(
            fields["title"],
            fields["starts_at"],
            fields["ends_at"],
            fields.get("participants", ()),
            fields.get("slot_minutes"),
        )
        codes = {r.code for r in refusals}
        if codes - SET_ASIDE:
            return SessionDraft(None, refusals)
        if "missing_title" in codes:
            fields = {**fields, "title": "-"}
        if "bad_slot_minutes" in codes:
            fields = {**fields, "slot_minutes": None}
        return SessionDraft(cls(**fields), refusals)


SET_ASIDE = frozenset({"missing_title", "bad_slot_minutes"})
"""Refusals of a draft that do not keep the store from checking the rest."""


def session_refusals(
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    participants: tuple[Participant, ...],
    slot_minutes: int | None,
) -> tuple[ScheduleError, ...]:
    """What is wrong with a session request in itself, in the order it is checked."""
    out = []
    if not title.strip():
        out.append(invalid("missing_title", "a session needs a title"))
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        out.append(invalid("missing_time_zone", "session times need a time zone"))
    elif ends_at <= starts_at:
        out.append(invalid("end_before_start", "the session ends before it starts"))
    elif ends_at - starts_at > MAX_SESSION:
        out.append(invalid("too_long", "a session lasts at most 24 hours"))
    ids = [p.site_id for p in participants]
    if len(set(ids)) != len(ids):
        out.append(invalid("duplicate_site", "a site is listed twice"))
    if slot_minutes is not None and not 5 <= slot_minutes <= 240:
        out.append(invalid("bad_slot_minutes", "slot_minutes must be 5 to 240"))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SessionDraft:
    """A booking being filled in, for a dry run (:meth:`SessionRequest.draft`)."""

    request: SessionRequest | None
    """What the store can check; None when the times or the sites are inconsistent."""
    refusals: tuple[ScheduleError, ...]
    """What is wrong with the request in itself (the booking raises the first)."""


@dataclass(frozen=True, slots=True)
class RuleRequest:
    """A reception rule to store."""

    site_id: str
    """Host site."""
    title: str
    """Title of its sessions."""
    kind: RuleKind
    """regular, periodic or special."""
    spec: RuleSpec
    """When its sessions are held."""
    host_kind: HostKind = HostKind.STAFF
    """Who receives."""
    room_id: int | None = None
    """Host room booked for its sessions."""
    participants: tuple[str, ...] = ()
    """Other participating sites."""
    officials: tuple[str, ...] = ()
    """Who receives."""
    slot_minutes: int | None = None
    """Citizens' slot length (None: no slots)."""

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise invalid("missing_title", "a rule needs a title")
        if self.slot_minutes is not None and not 5 <= self.slot_minutes <= 240:
            raise invalid("bad_slot_minutes", "slot_minutes must be 5 to 240")
        if len(set(self.participants)) != len(self.participants):
            raise invalid("duplicate_site", "a site is listed twice")


@dataclass(frozen=True, slots=True)
class SlotBooking:
    """A citizen (or a delegation) booked into a slot."""

    citizen_name: str
    """Name of the citizen or the delegation's representative (confidential)."""
    case_kind: str
    """complaint, denunciation, petition or mixed."""
    case_ref: str = ""
    """Reference in the reception book."""
    people_count: int = 1
    """Number of people coming."""

    def __post_init__(self) -> None:
        if not self.citizen_name.strip():
            raise invalid("missing_name", "a booking needs the citizen's name")
        if self.case_kind not in {"complaint", "denunciation", "petition", "mixed"}:
            raise invalid(
                "bad_case_kind", "case_kind must be complaint, denunciation, petition or mixed"
            )
        if not 1 <= self.people_count <= 1000:
            raise invalid("bad_people_count", "people_count must be 1 to 1000")
