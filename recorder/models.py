"""Tables of the archive: recordings and their files, cases, markers, denouncers, audit.

Declared on the scheduler's :class:`sessions.db.Base` (one metadata, one naming
convention); the history is the Alembic branch ``recorder`` in
``recorder/migrations/versions``. Table names start with ``rec_``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.cases import CaseKind as CaseKind
from core.cases import Outcome as Outcome
from core.cases import RefusalReason as RefusalReason
from core.db import Base, UTCDateTime


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e])


class RecordingStatus(enum.StrEnum):
    RECORDING = "recording"
    COMPLETE = "complete"
    RECOVERED = "recovered"


class Recording(Base):
    """One session's recording (a folder of files and a manifest)."""

    __tablename__ = "rec_recordings"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    host_site: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[RecordingStatus] = mapped_column(_enum(RecordingStatus, "rec_status"))
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    """Why the session is recorded (logged per session, personal data law)."""
    sites: Mapped[list[RecordingSite]] = relationship(
        back_populates="recording", cascade="all, delete-orphan", lazy="selectin"
    )
    files: Mapped[list[RecordingFile]] = relationship(
        back_populates="recording",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="RecordingFile.id",
    )

    @property
    def site_ids(self) -> list[str]:
        return sorted(s.site for s in self.sites)


class RecordingSite(Base):
    """A site that took part in a recorded session (its clerks may see the recording)."""

    __tablename__ = "rec_recording_sites"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("rec_recordings.session_id", ondelete="CASCADE"), primary_key=True
    )
    site: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    recording: Mapped[Recording] = relationship(back_populates="sites")


class RecordingFile(Base):
    """One file of a recording, as sealed in the manifest."""

    __tablename__ = "rec_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("rec_recordings.session_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(64))
    offset_ms: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    recovered: Mapped[bool] = mapped_column(Boolean, default=False)
    recording: Mapped[Recording] = relationship(back_populates="files")


class Case(Base):
    """A reception case (one line of the reception book).

    A case is *pending* when an operator marked its number in a live session before
    anyone recorded it (a citizen's first visit): the archive opens it with the number,
    the session's sites and the operator, so the marker is kept and the session found
    by the number; kind, outcome and persons are filled in when the case is recorded.
    """

    __tablename__ = "rec_cases"
    __table_args__ = (CheckConstraint("pending OR kind IS NOT NULL", name="kind_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    """Opened by a marker; its metadata is not recorded yet."""
    kind: Mapped[CaseKind | None] = mapped_column(_enum(CaseKind, "rec_case_kind"), nullable=True)
    """None while the case is pending."""
    summary: Mapped[str] = mapped_column(Text, default="")
    crowd: Mapped[bool] = mapped_column(Boolean, default=False)
    """Crowd case (đông người): 5 or more people on the same content."""
    people_count: Mapped[int] = mapped_column(Integer, default=1)
    persons_received: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """Persons received (name, address, id); never a denouncer (see ``Denouncer``)."""
    officials: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Officials who received them."""
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, "rec_outcome"), nullable=True)
    refusal_reason: Mapped[RefusalReason | None] = mapped_column(
        _enum(RefusalReason, "rec_refusal"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    """Who opened the case (the operator, for a case opened by a marker)."""
    sites: Mapped[list[CaseSite]] = relationship(
        back_populates="case", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def site_ids(self) -> list[str]:
        return sorted(s.site for s in self.sites)


class CaseSite(Base):
    """A site a case concerns."""

    __tablename__ = "rec_case_sites"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("rec_cases.id", ondelete="CASCADE"), primary_key=True
    )
    site: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    case: Mapped[Case] = relationship(back_populates="sites")


class Marker(Base):
    """The operator marked that ``case`` is discussed from ``offset_ms`` on."""

    __tablename__ = "rec_markers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("rec_recordings.session_id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int] = mapped_column(ForeignKey("rec_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    offset_ms: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    case: Mapped[Case] = relationship(lazy="joined")


class Denouncer(Base):
    """A denouncer's identity, kept apart from the case (Law on Denunciations 2018)."""

    __tablename__ = "rec_denouncers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("rec_cases.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text, default="")
    id_number: Mapped[str] = mapped_column(String(64), default="")


class AuditEntry(Base):
    """One line of the append-only audit log: who did what, when, why, and the result."""

    __tablename__ = "rec_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    actor_site: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(500))
    target_sites: Mapped[str] = mapped_column(String(1000), default="")
    """``|site|site|`` of the target, so a site's administrators find its entries."""
    reason: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class AppendOnlyError(RuntimeError):
    """Someone tried to change or delete an audit entry."""


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(_mapper: Any, _connection: Any, target: AuditEntry) -> None:
    raise AppendOnlyError(f"audit entry {target.id} cannot be changed or deleted")
