"""What a reception book entry holds, as plain values: kinds, channels, outcomes, people.

Written from the operator's console during a session and by clerks afterwards; every
edit is a new version (:mod:`book.store`). A denouncer's identity (an entry of kind
``denunciation``) is shown only to administrators of the entry's site
(:meth:`EntryView.as_dict`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core.cases import CaseKind
from core.cases import Outcome as Outcome
from core.cases import RefusalReason as RefusalReason

Kind = CaseKind
"""An entry's kind: the archive's case kinds (``core.cases``), one list for both."""


class BookError(Exception):
    """A refusal of the book: ``code`` is stable, ``kind`` maps to an HTTP status."""

    def __init__(self, kind: str, code: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        """``invalid``, ``not_found``, ``conflict`` or ``forbidden``."""
        self.code = code
        self.message = message


def invalid(code: str, message: str) -> BookError:
    return BookError("invalid", code, message)


class Channel(enum.StrEnum):
    IN_PERSON = "in_person"
    """Trực tiếp tại trụ sở."""
    ONLINE = "online"
    """Trực tuyến: a session (and its recording marker)."""
    POST = "post"
    """Qua bưu chính."""
    FORWARDED = "forwarded"
    """Cơ quan khác chuyển đến."""
    PRESS = "press"
    """Báo chí."""


class Status(enum.StrEnum):
    OPEN = "open"
    """Đang giải quyết."""
    RESOLVED = "resolved"
    """Đã giải quyết (``resolved_on`` says when)."""


CROWD = 5
"""Five or more people on the same content make a crowd case (đoàn đông người)."""
MAX_PERSONS = 200
MAX_TEXT = 4000
MASK = "(bảo mật)"
"""What a reader who may not see a denouncer's identity sees instead."""


@dataclass(frozen=True, slots=True)
class Person:
    """Someone received: name, address, identity number."""

    name: str
    address: str = ""
    id_number: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "id_number": self.id_number}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Person:
        return cls(
            str(raw.get("name", "")), str(raw.get("address", "")), str(raw.get("id_number", ""))
        )


MASKED_PERSON = Person(MASK, MASK, MASK)


def max_representatives(people: int) -> int:
    """1–2 representatives for 5–10 people, at most 5 for more (Decree 64/2014, art. 6)."""
    return 2 if people <= 10 else 5


@dataclass(frozen=True, slots=True)
class EntryInput:
    """One version of an entry as written; checked on creation."""

    received_on: date
    """The day of the reception (Vietnamese date)."""
    site: str
    """The site that received."""
    kind: Kind
    channel: Channel
    persons: tuple[Person, ...]
    """Persons received (for a crowd, those who came)."""
    people_count: int = 1
    """How many people the visit was for (a crowd's whole number)."""
    representatives: tuple[Person, ...] = ()
    """A crowd's representatives."""
    summary: str = ""
    session_id: str = ""
    """The online session, when the channel is ``online``."""
    recording_marker: str = ""
    """The case number marked in that session's recording."""
    prior_bodies: tuple[str, ...] = ()
    """Bodies that handled the matter before."""
    outcome: Outcome | None = None
    """None while the reception is not concluded (an operator's first draft)."""
    forwarded_to: str = ""
    refusal_reason: RefusalReason | None = None
    official: str = ""
    """The receiving official."""
    complex: bool = False
    """Complex case: longer deadline (a first complaint 45 days instead of 30)."""
    status: Status = Status.OPEN
    resolved_on: date | None = None
    note: str = ""
    """Why this version was written (shown in the history)."""

    @property
    def crowd(self) -> bool:
        return self.people_count >= CROWD

    def __post_init__(self) -> None:
        if not self.site:
            raise invalid("missing_site", "an entry needs the receiving site")
        if not 1 <= self.people_count <= 100_000:
            raise invalid("bad_people_count", "the number of people is from 1 to 100000")
        if not self.persons:
            raise invalid("no_person", "name at least one person received")
        if len(self.persons) > MAX_PERSONS or len(self.representatives) > MAX_PERSONS:
            raise invalid("too_many_persons", f"at most {MAX_PERSONS} persons")
        for person in (*self.persons, *self.representatives):
            if not person.name.strip():
                raise invalid("blank_name", "every person received needs a name")
            if len(person.name) > 200 or len(person.address) > 300 or len(person.id_number) > 32:
                raise invalid("person_too_long", "name ≤ 200, address ≤ 300, ID ≤ 32 characters")
        if self.representatives and not self.crowd:
            raise invalid(
                "representatives_without_crowd", "representatives are named for 5 or more people"
            )
        if len(self.representatives) > max_representatives(self.people_count):
            raise invalid(
                "too_many_representatives",
                f"{self.people_count} people send at most "
                f"{max_representatives(self.people_count)} representatives",
            )
        if len(self.summary) > MAX_TEXT or len(self.note) > MAX_TEXT:
            raise invalid("text_too_long", f"summary and note have at most {MAX_TEXT} characters")
        if self.channel is Channel.ONLINE and not self.session_id:
            raise invalid("online_without_session", "an online reception names its session")
        if self.channel is not Channel.ONLINE and (self.session_id or self.recording_marker):
            raise invalid("session_not_online", "only an online reception names a session")
        if self.outcome is Outcome.FORWARDED and not self.forwarded_to.strip():
            raise invalid("forwarded_without_body", "name the body the matter is forwarded to")
        if self.outcome is not Outcome.FORWARDED and self.forwarded_to:
            raise invalid("body_without_forward", "a body is named only when forwarding")
        if (self.outcome is Outcome.REFUSED) != (self.refusal_reason is not None):
            raise invalid(
                "refusal_reason", "a refusal needs one of the legal reasons, and only a refusal"
            )
        if (self.status is Status.RESOLVED) != (self.resolved_on is not None):
            raise invalid("resolved_on", "a resolved entry has a resolution date, and only it")
        if self.resolved_on is not None and self.resolved_on < self.received_on:
            raise invalid("resolved_before_received", "resolved before it was received")
        if len(self.prior_bodies) > 20 or any(len(b) > 300 for b in self.prior_bodies):
            raise invalid("prior_bodies", "at most 20 prior bodies of ≤ 300 characters")


@dataclass(frozen=True, slots=True)
class EntryView:
    """An entry as stored: its identity, its current version and its deadline."""

    id: int
    number: int
    year: int
    province: str
    data: EntryInput
    deadline: date | None
    deadline_rule: str
    version: int
    written_at: datetime
    written_by: str
    created_by: str
    versions: tuple[VersionView, ...] = field(default=())

    @property
    def reference(self) -> str:
        """The number as an office writes it: ``12/2026``."""
        return f"{self.number}/{self.year}"

    def as_dict(self, *, reveal: bool, today: date | None = None) -> dict[str, Any]:
        """The JSON shape; a denunciation's persons masked unless ``reveal``."""
        d = self.data
        hide = d.kind is Kind.DENUNCIATION and not reveal
        persons = [MASKED_PERSON if hide else p for p in d.persons]
        reps = [MASKED_PERSON if hide else p for p in d.representatives]
        overdue = (
            today is not None
            and self.deadline is not None
            and d.status is Status.OPEN
            and self.deadline < today
        )
        return {
            "id": self.id,
            "number": self.number,
            "year": self.year,
            "reference": self.reference,
            "site": d.site,
            "province": self.province,
            "received_on": d.received_on.isoformat(),
            "persons": [p.as_dict() for p in persons],
            "masked": hide,
            "people_count": d.people_count,
            "crowd": d.crowd,
            "representatives": [p.as_dict() for p in reps],
            "summary": d.summary,
            "kind": str(d.kind),
            "channel": str(d.channel),
            "session_id": d.session_id,
            "recording_marker": d.recording_marker,
            "prior_bodies": list(d.prior_bodies),
            "outcome": None if d.outcome is None else str(d.outcome),
            "forwarded_to": d.forwarded_to,
            "refusal_reason": None if d.refusal_reason is None else str(d.refusal_reason),
            "official": d.official,
            "complex": d.complex,
            "status": str(d.status),
            "resolved_on": None if d.resolved_on is None else d.resolved_on.isoformat(),
            "deadline": None if self.deadline is None else self.deadline.isoformat(),
            "deadline_rule": self.deadline_rule,
            "overdue": overdue,
            "version": self.version,
            "written_at": self.written_at.isoformat(),
            "written_by": self.written_by,
            "created_by": self.created_by,
            "versions": [v.as_dict() for v in self.versions],
        }


@dataclass(frozen=True, slots=True)
class VersionView:
    """One line of an entry's history."""

    version: int
    at: datetime
    by: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "at": self.at.isoformat(),
            "by": self.by,
            "note": self.note,
        }
