"""The archive's store: recordings, cases, markers and search (synchronous; call it
from a thread in async code)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.cases import check_case_number
from core.db import WRITE_OPTION
from recorder.manifest import Manifest, MarkerEntry
from recorder.models import (
    Case,
    CaseKind,
    CaseSite,
    Denouncer,
    Marker,
    Outcome,
    Recording,
    RecordingFile,
    RecordingSite,
    RecordingStatus,
    RefusalReason,
)

logger = logging.getLogger(__name__)


class ArchiveError(Exception):
    """A request the archive refuses; ``code`` is stable for API errors."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_case_number(raw: str) -> str:
    """``raw`` as a case number is stored, or :class:`ArchiveError` ``bad_case_number``."""
    try:
        return check_case_number(raw)
    except ValueError as exc:
        raise ArchiveError("bad_case_number", str(exc)) from None


@dataclass(frozen=True, slots=True)
class Person:
    """Someone received (or a denouncer, stored apart)."""

    name: str
    """Full name."""
    address: str = ""
    """Address."""
    id_number: str = ""
    """Citizen ID number."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ArchiveError("bad_case", "a person needs a name")


@dataclass(frozen=True, slots=True)
class CaseInput:
    """A case as a clerk or operator records it."""

    number: str
    """Case number of the reception book."""
    kind: CaseKind
    """Complaint, denunciation, petition/feedback or mixed."""
    sites: tuple[str, ...]
    """Sites the case concerns (at least one)."""
    summary: str = ""
    """Short summary of the content."""
    people_count: int = 1
    """How many people came."""
    persons_received: tuple[Person, ...] = ()
    """Persons received; for a denunciation they are denouncers and go in ``denouncers``."""
    denouncers: tuple[Person, ...] = ()
    """Confidential identities (denunciation or mixed cases)."""
    officials: tuple[str, ...] = ()
    """Officials who received them."""
    outcome: Outcome | None = None
    """Result of the reception, once known."""
    refusal_reason: RefusalReason | None = None
    """Required when the outcome is a refusal."""

    @property
    def crowd(self) -> bool:
        """Crowd case (đông người): five or more people on the same content."""
        return self.people_count >= 5

    def __post_init__(self) -> None:
        parse_case_number(self.number)
        if not self.sites:
            raise ArchiveError("bad_case", "a case concerns at least one site")
        if self.people_count < 1:
            raise ArchiveError("bad_case", "at least one person is received")
        if (self.outcome is Outcome.REFUSED) != (self.refusal_reason is not None):
            raise ArchiveError("bad_case", "a refusal, and only a refusal, needs a reason")
        if self.kind is CaseKind.DENUNCIATION and self.persons_received:
            raise ArchiveError(
                "bad_case", "persons received in a denunciation are denouncers: give them apart"
            )
        if self.denouncers and self.kind not in {CaseKind.DENUNCIATION, CaseKind.MIXED}:
            raise ArchiveError("bad_case", "only a denunciation or mixed case has denouncers")


@dataclass(frozen=True, slots=True)
class MarkerView:
    session_id: str
    case_number: str
    text: str
    at: datetime
    offset_ms: int
    end_ms: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "case_number": self.case_number,
            "text": self.text,
            "at": self.at.isoformat(),
            "offset_ms": self.offset_ms,
            "end_ms": self.end_ms,
        }


@dataclass(frozen=True, slots=True)
class CaseView:
    number: str
    pending: bool
    """Opened by an operator's marker; kind, outcome and persons are not recorded yet."""
    kind: CaseKind | None
    summary: str
    crowd: bool
    people_count: int
    persons_received: list[dict[str, Any]]
    officials: list[str]
    outcome: Outcome | None
    refusal_reason: RefusalReason | None
    sites: list[str]
    sessions: list[str]
    """Sessions in which the case was marked."""
    has_denouncer: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "pending": self.pending,
            "kind": str(self.kind) if self.kind else None,
            "summary": self.summary,
            "crowd": self.crowd,
            "people_count": self.people_count,
            "persons_received": self.persons_received,
            "officials": self.officials,
            "outcome": str(self.outcome) if self.outcome else None,
            "refusal_reason": str(self.refusal_reason) if self.refusal_reason else None,
            "sites": self.sites,
            "sessions": self.sessions,
            "has_denouncer": self.has_denouncer,
        }


@dataclass(frozen=True, slots=True)
class FileView:
    name: str
    site: str
    offset_ms: int
    duration_ms: int
    bytes: int
    sha256: str
    recovered: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "site": self.site,
            "offset_ms": self.offset_ms,
            "duration_ms": self.duration_ms,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "recovered": self.recovered,
        }


@dataclass(frozen=True, slots=True)
class RecordingView:
    session_id: str
    title: str
    host_site: str
    sites: list[str]
    started_at: datetime
    ended_at: datetime | None
    status: RecordingStatus
    files: list[FileView]
    markers: list[MarkerView] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "title": self.title,
            "host_site": self.host_site,
            "sites": self.sites,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "status": str(self.status),
            "files": [f.as_dict() for f in self.files],
            "markers": [m.as_dict() for m in self.markers],
            "cases": self.cases,
        }


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Filters of the archive search; every one is optional."""

    case_number: str = ""
    """Case number, or its beginning."""
    start: datetime | None = None
    """Recordings started at or after (UTC)."""
    end: datetime | None = None
    """Recordings started before (UTC)."""
    site: str = ""
    """A participating site."""
    kind: CaseKind | None = None
    """A case of this kind was marked."""
    outcome: Outcome | None = None
    """A case with this outcome was marked."""
    limit: int = 100
    """At most this many results, newest first."""


def marker_ranges(markers: Sequence[Marker], total_ms: int | None) -> list[MarkerView]:
    """A case's time range runs from its marker to the next marker (or the end)."""
    ordered = sorted(markers, key=lambda m: (m.offset_ms, m.id))
    out = []
    for n, marker in enumerate(ordered):
        end = ordered[n + 1].offset_ms if n + 1 < len(ordered) else total_ms
        out.append(
            MarkerView(
                marker.session_id, marker.case.number, marker.text, marker.at, marker.offset_ms, end
            )
        )
    return out


class Archive:
    """Recordings, cases and markers in the database."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        # Writers start their transaction with the write lock on SQLite (see sessions.db).
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- recordings ------------------------------------------------------------------

    def open_recording(
        self,
        session_id: str,
        *,
        title: str,
        host_site: str,
        sites: Sequence[str],
        started_at: datetime,
        legal_basis: str,
    ) -> None:
        with Session(self._writer) as db, db.begin():
            recording = db.get(Recording, session_id)
            if recording is None:
                recording = Recording(
                    session_id=session_id,
                    title=title,
                    host_site=host_site,
                    started_at=started_at,
                    status=RecordingStatus.RECORDING,
                    legal_basis=legal_basis,
                )
                db.add(recording)
            known = {s.site for s in recording.sites}
            for site in {host_site, *sites} - known:
                recording.sites.append(RecordingSite(site=site))

    def close_recording(self, manifest: Manifest, status: RecordingStatus) -> None:
        """Store the sealed manifest's files, state and end."""
        with Session(self._writer) as db, db.begin():
            recording = db.get(Recording, manifest.session_id)
            if recording is None:
                raise ArchiveError("not_found", f"no recording {manifest.session_id}")
            recording.status = status
            recording.ended_at = (
                datetime.fromisoformat(manifest.ended_at) if manifest.ended_at else self._clock()
            )
            recording.files.clear()
            db.flush()
            for entry in manifest.files:
                recording.files.append(
                    RecordingFile(
                        name=entry.name,
                        site=entry.site,
                        offset_ms=entry.offset_ms,
                        duration_ms=entry.duration_ms,
                        bytes=entry.bytes,
                        sha256=entry.sha256,
                        recovered=entry.recovered,
                    )
                )
            known = {s.site for s in recording.sites}
            for site in set(manifest.sites) - known:
                recording.sites.append(RecordingSite(site=site))

    def recording(self, session_id: str) -> RecordingView | None:
        with Session(self.engine) as db:
            recording = db.get(Recording, session_id)
            return self._view(db, recording, full=True) if recording else None

    def manifest_markers(self, session_id: str, total_ms: int) -> list[MarkerEntry]:
        with Session(self.engine) as db:
            markers = db.scalars(select(Marker).where(Marker.session_id == session_id)).all()
            return [
                MarkerEntry(m.case_number, m.text, m.at.isoformat(), m.offset_ms, m.end_ms)
                for m in marker_ranges(markers, total_ms)
            ]

    def search(self, query: SearchQuery, viewer_site: str) -> list[RecordingView]:
        """Recordings matching ``query`` that the viewer's site took part in."""
        stmt = (
            select(Recording)
            .join(RecordingSite, RecordingSite.session_id == Recording.session_id)
            .where(RecordingSite.site == viewer_site)
        )
        if query.site:
            other = select(RecordingSite.session_id).where(RecordingSite.site == query.site)
            stmt = stmt.where(Recording.session_id.in_(other))
        if query.start is not None:
            stmt = stmt.where(Recording.started_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Recording.started_at < query.end)
        if query.case_number or query.kind or query.outcome:
            marked = select(Marker.session_id).join(Case, Case.id == Marker.case_id)
            if query.case_number:
                prefix = query.case_number.strip().lower().replace("%", "").replace("_", "")
                marked = marked.where(func.lower(Case.number).startswith(prefix))
            if query.kind:
                marked = marked.where(Case.kind == query.kind)
            if query.outcome:
                marked = marked.where(Case.outcome == query.outcome)
            stmt = stmt.where(Recording.session_id.in_(marked))
        stmt = stmt.order_by(Recording.started_at.desc()).limit(max(1, min(query.limit, 500)))
        with Session(self.engine) as db:
            return [self._view(db, r, full=False) for r in db.scalars(stmt).unique()]

    def _view(self, db: Session, recording: Recording, *, full: bool) -> RecordingView:
        markers = db.scalars(select(Marker).where(Marker.session_id == recording.session_id)).all()
        total = None
        if recording.ended_at is not None:
            total = round((recording.ended_at - recording.started_at).total_seconds() * 1000)
        views = marker_ranges(markers, total)
        return RecordingView(
            session_id=recording.session_id,
            title=recording.title,
            host_site=recording.host_site,
            sites=recording.site_ids,
            started_at=recording.started_at,
            ended_at=recording.ended_at,
            status=recording.status,
            files=[
                FileView(f.name, f.site, f.offset_ms, f.duration_ms, f.bytes, f.sha256, f.recovered)
                for f in recording.files
            ],
            markers=views if full else [],
            cases=list(dict.fromkeys(m.case_number for m in views)),
        )

    # -- cases -----------------------------------------------------------------------

    def create_case(self, case: CaseInput, *, by: str, site: str | None = None) -> CaseView:
        """Record ``case``, or complete it if a marker opened it (it is pending).

        A case already recorded is ``case_exists``; so is a pending one that none of
        the sessions of ``site`` (the writer's site, when given) opened.
        """
        number = parse_case_number(case.number)
        try:
            with Session(self._writer) as db, db.begin():
                row = db.scalar(select(Case).where(Case.number == number).with_for_update())
                if row is None:
                    row = Case(number=number, created_at=self._clock(), created_by=by)
                    db.add(row)
                elif not row.pending:
                    raise ArchiveError("case_exists", f"case {number} already exists")
                elif site is not None and site not in row.site_ids:
                    raise ArchiveError(
                        "case_exists",
                        f"case {number} was opened in a session your site took no part in",
                    )
                self._fill(row, case)
                db.flush()
                for person in case.denouncers:
                    db.add(
                        Denouncer(
                            case_id=row.id,
                            name=person.name,
                            address=person.address,
                            id_number=person.id_number,
                        )
                    )
        except IntegrityError:
            raise ArchiveError("case_exists", f"case {number} already exists") from None
        view = self.case(number)
        assert view is not None
        return view

    @staticmethod
    def _fill(row: Case, case: CaseInput) -> None:
        """Write ``case``'s metadata into ``row``; the case is no longer pending."""
        row.pending = False
        row.kind = case.kind
        row.summary = case.summary
        row.crowd = case.crowd
        row.people_count = case.people_count
        row.persons_received = [
            {"name": p.name, "address": p.address, "id_number": p.id_number}
            for p in case.persons_received
        ]
        row.officials = list(case.officials)
        row.outcome = case.outcome
        row.refusal_reason = case.refusal_reason
        # The writer's sites replace the session's a marker gave the case; those
        # sessions' sites still see the case through its markers.
        wanted = list(dict.fromkeys(case.sites))
        row.sites[:] = [s for s in row.sites if s.site in wanted]
        known = {s.site for s in row.sites}
        row.sites.extend(CaseSite(site=s) for s in wanted if s not in known)

    def case(self, number: str) -> CaseView | None:
        with Session(self.engine) as db:
            row = db.scalar(select(Case).where(Case.number == number))
            if row is None:
                return None
            sessions = db.scalars(
                select(Marker.session_id).where(Marker.case_id == row.id).distinct()
            ).all()
            has_denouncer = (
                db.scalar(select(func.count(Denouncer.id)).where(Denouncer.case_id == row.id)) or 0
            ) > 0
            return CaseView(
                number=row.number,
                pending=row.pending,
                kind=row.kind,
                summary=row.summary,
                crowd=row.crowd,
                people_count=row.people_count,
                persons_received=list(row.persons_received),
                officials=list(row.officials),
                outcome=row.outcome,
                refusal_reason=row.refusal_reason,
                sites=row.site_ids,
                sessions=sorted(sessions),
                has_denouncer=has_denouncer,
            )

    def denouncers(self, number: str) -> list[Person]:
        with Session(self.engine) as db:
            rows = db.scalars(
                select(Denouncer)
                .join(Case, Case.id == Denouncer.case_id)
                .where(Case.number == number)
            ).all()
            return [Person(d.name, d.address, d.id_number) for d in rows]

    def case_sites_with_sessions(self, number: str) -> list[str]:
        """The case's own sites plus the sites of every session it was marked in."""
        with Session(self.engine) as db:
            row = db.scalar(select(Case).where(Case.number == number))
            if row is None:
                return []
            sessions = select(Marker.session_id).where(Marker.case_id == row.id)
            sites = db.scalars(
                select(RecordingSite.site).where(RecordingSite.session_id.in_(sessions))
            ).all()
            return sorted({*row.site_ids, *sites})

    def add_marker(
        self, session_id: str, case_number: str, text: str, at: datetime, *, by: str
    ) -> MarkerView:
        """Mark that the case is discussed from ``at`` on in the recording.

        A case number not recorded yet (a citizen's first visit) opens a pending case:
        the number, the recording's sites and ``by`` as its author; the rest is filled
        in when the case is recorded (:meth:`create_case`).
        """
        number = parse_case_number(case_number)
        with Session(self._writer) as db, db.begin():
            recording = db.get(Recording, session_id)
            if recording is None:
                raise ArchiveError("not_found", f"session {session_id} is not being recorded")
            offset = round((at - recording.started_at).total_seconds() * 1000)
            if offset < 0:
                raise ArchiveError("bad_marker", "a marker cannot precede the recording")
            case = self._case_for_marker(db, number, recording, by)
            marker = Marker(
                session_id=session_id,
                case_id=case.id,
                at=at,
                offset_ms=offset,
                text=text[:2000],
                created_by=by,
            )
            db.add(marker)
            db.flush()
            logger.info("session %s: case %s marked at %d ms", session_id, number, offset)
            return MarkerView(session_id, case.number, marker.text, at, offset, None)

    def _case_for_marker(self, db: Session, number: str, recording: Recording, by: str) -> Case:
        """The case ``number``, opened as pending if nobody recorded it yet."""
        case = db.scalar(select(Case).where(Case.number == number))
        if case is None:
            try:
                # A savepoint: another server may open the same case at the same time
                # (PostgreSQL); its row is then the one to mark.
                with db.begin_nested():
                    case = Case(
                        number=number,
                        pending=True,
                        kind=None,
                        created_at=self._clock(),
                        created_by=by,
                        sites=[CaseSite(site=s) for s in recording.site_ids],
                    )
                    db.add(case)
                logger.info("case %s opened by %s's marker, pending its record", number, by)
                return case
            except IntegrityError:
                case = db.scalar(select(Case).where(Case.number == number))
                if case is None:
                    raise
        if case.pending:
            known = set(case.site_ids)
            case.sites.extend(CaseSite(site=s) for s in recording.site_ids if s not in known)
        return case
