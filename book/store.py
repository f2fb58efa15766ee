"""The reception book's database: entries written, edited as new versions, read back.

Numbers run per site and year (``12/2026``) and are given in the write transaction:
on PostgreSQL writers of one site and year queue on an advisory lock, on SQLite every
writer is alone (``BEGIN IMMEDIATE``); should two still meet the unique constraint, the
loser retries with the next number. The deadline is computed on every write from the
version's kind, outcome and complexity on the working-day calendar (:mod:`book.deadlines`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, date, datetime

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError

from book.deadlines import Calendar, entry_deadline
from book.models import Entry, Version
from book.values import (
    BookError,
    Channel,
    EntryInput,
    EntryView,
    Kind,
    Outcome,
    Person,
    RefusalReason,
    Status,
    VersionView,
)
from core.db import Transactions

NUMBER_ATTEMPTS = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


def _version_row(
    entry_id: int,
    version: int,
    data: EntryInput,
    by: str,
    at: datetime,
    deadline: date | None,
    rule: str,
) -> Version:
    return Version(
        entry_id=entry_id,
        version=version,
        at=at,
        by=by[:200],
        note=data.note,
        received_on=data.received_on,
        kind=str(data.kind),
        channel=str(data.channel),
        outcome=None if data.outcome is None else str(data.outcome),
        forwarded_to=data.forwarded_to,
        refusal_reason=None if data.refusal_reason is None else str(data.refusal_reason),
        persons=[p.as_dict() for p in data.persons],
        people_count=data.people_count,
        crowd=data.crowd,
        representatives=[p.as_dict() for p in data.representatives],
        summary=data.summary,
        session_id=data.session_id,
        recording_marker=data.recording_marker,
        prior_bodies=list(data.prior_bodies),
        official=data.official,
        complex=data.complex,
        status=str(data.status),
        resolved_on=data.resolved_on,
        deadline=deadline,
        deadline_rule=rule[:300],
    )


def version_input(entry: Entry, row: Version) -> EntryInput:
    """A stored version as the input it was written from."""
    return EntryInput(
        received_on=row.received_on,
        site=entry.site,
        kind=Kind(row.kind),
        channel=Channel(row.channel),
        persons=tuple(Person.from_dict(p) for p in row.persons),
        people_count=row.people_count,
        representatives=tuple(Person.from_dict(p) for p in row.representatives),
        summary=row.summary,
        session_id=row.session_id,
        recording_marker=row.recording_marker,
        prior_bodies=tuple(row.prior_bodies),
        outcome=None if row.outcome is None else Outcome(row.outcome),
        forwarded_to=row.forwarded_to,
        refusal_reason=None if row.refusal_reason is None else RefusalReason(row.refusal_reason),
        official=row.official,
        complex=row.complex,
        status=Status(row.status),
        resolved_on=row.resolved_on,
        note=row.note,
    )


def entry_view(entry: Entry, row: Version, history: list[Version] | None = None) -> EntryView:
    return EntryView(
        id=entry.id,
        number=entry.number,
        year=entry.year,
        province=entry.province,
        data=version_input(entry, row),
        deadline=row.deadline,
        deadline_rule=row.deadline_rule,
        version=row.version,
        written_at=row.at,
        written_by=row.by,
        created_by=entry.created_by,
        versions=tuple(VersionView(v.version, v.at, v.by, v.note) for v in history or []),
    )


class BookStore(Transactions):
    """Reads and one-transaction writes on the ``bk_`` tables."""

    def __init__(
        self,
        engine: Engine,
        calendar: Callable[[], Calendar],
        province_of: Callable[[str], str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(engine)
        self.calendar = calendar
        """The working-day calendar (the scheduler's, with its overrides)."""
        self.province_of = province_of
        """The province a site belongs to (itself for a province or the central office)."""
        self.clock = clock

    def _deadline(self, data: EntryInput) -> tuple[date | None, str]:
        return entry_deadline(
            data.received_on, data.kind, data.outcome, data.complex, self.calendar()
        )

    def create(self, data: EntryInput, *, by: str) -> EntryView:
        """Write a new entry with the next number of its site and year."""
        province = self.province_of(data.site)
        deadline, rule = self._deadline(data)
        for attempt in range(NUMBER_ATTEMPTS):
            try:
                with self.write() as db:
                    year = data.received_on.year
                    if db.get_bind().dialect.name == "postgresql":
                        # Writers of one site and year queue here; SQLite's BEGIN
                        # IMMEDIATE already serialises every writer.
                        db.execute(
                            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                            {"key": f"bk_number|{data.site}|{year}"},
                        )
                    last = db.scalar(
                        select(func.max(Entry.number)).where(
                            Entry.site == data.site, Entry.year == year
                        )
                    )
                    now = self.clock()
                    entry = Entry(
                        site=data.site,
                        province=province,
                        year=year,
                        number=(last or 0) + 1,
                        created_at=now,
                        created_by=by[:200],
                    )
                    db.add(entry)
                    db.flush()
                    row = _version_row(entry.id, 1, data, by, now, deadline, rule)
                    db.add(row)
                    db.flush()
                    entry.current_id = row.id
                    return entry_view(entry, row, [row])
            except IntegrityError:
                if attempt == NUMBER_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def edit(
        self, entry_id: int, data: EntryInput, *, by: str, expect_version: int | None = None
    ) -> EntryView:
        """Add a version; the site stays. ``expect_version`` refuses a stale edit (409)."""
        deadline, rule = self._deadline(data)
        with self.write() as db:
            entry = db.scalars(select(Entry).where(Entry.id == entry_id).with_for_update()).first()
            if entry is None:
                raise BookError("not_found", "no_entry", f"no book entry {entry_id}")
            if data.site != entry.site:
                raise BookError(
                    "invalid", "site_changed", "an entry stays in the site that received"
                )
            current = db.get(Version, entry.current_id)
            assert current is not None
            if expect_version is not None and expect_version != current.version:
                raise BookError(
                    "conflict",
                    "stale_version",
                    f"the entry is at version {current.version}, not {expect_version}: reload it",
                )
            row = _version_row(
                entry.id, current.version + 1, data, by, self.clock(), deadline, rule
            )
            db.add(row)
            db.flush()
            entry.current_id = row.id
            history = list(
                db.scalars(
                    select(Version).where(Version.entry_id == entry.id).order_by(Version.version)
                )
            )
            return entry_view(entry, row, history)

    def get(self, entry_id: int) -> EntryView:
        with self.read() as db:
            entry = db.get(Entry, entry_id)
            if entry is None:
                raise BookError("not_found", "no_entry", f"no book entry {entry_id}")
            history = list(
                db.scalars(
                    select(Version).where(Version.entry_id == entry_id).order_by(Version.version)
                )
            )
            return entry_view(entry, history[-1], history)

    def version(self, entry_id: int, version: int) -> EntryView:
        """One past version, as it was."""
        with self.read() as db:
            entry = db.get(Entry, entry_id)
            row = db.scalars(
                select(Version).where(Version.entry_id == entry_id, Version.version == version)
            ).first()
            if entry is None or row is None:
                raise BookError(
                    "not_found", "no_version", f"no version {version} of entry {entry_id}"
                )
            return entry_view(entry, row)

    def entries(
        self,
        *,
        provinces: Collection[str] | None = None,
        sites: Collection[str] | None = None,
        start: date | None = None,
        end: date | None = None,
        kind: Kind | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> list[EntryView]:
        """Current versions, newest reception first; ``end`` included."""
        query = select(Entry, Version).join(Version, Version.id == Entry.current_id)
        if provinces is not None:
            query = query.where(Entry.province.in_(list(provinces)))
        if sites is not None:
            query = query.where(Entry.site.in_(list(sites)))
        if start is not None:
            query = query.where(Version.received_on >= start)
        if end is not None:
            query = query.where(Version.received_on <= end)
        if kind is not None:
            query = query.where(Version.kind == str(kind))
        query = query.order_by(Version.received_on.desc(), Entry.id.desc())
        query = query.limit(max(1, min(limit, 5000))).offset(max(0, offset))
        with self.read() as db:
            return [entry_view(e, v) for e, v in db.execute(query)]

    def by_marker(self, session_id: str, marker: str) -> EntryView | None:
        """The entry an operator wrote for ``marker`` in ``session_id``, if any."""
        query = (
            select(Entry, Version)
            .join(Version, Version.id == Entry.current_id)
            .where(Version.session_id == session_id, Version.recording_marker == marker)
            .order_by(Entry.id.desc())
        )
        with self.read() as db:
            found = db.execute(query).first()
            return None if found is None else entry_view(*found)
