"""Tables of the reception book: entries, their append-only versions, the watch list.

Declared on :class:`core.db.Base`; the history is the Alembic branch ``book`` in
``book/migrations/versions``. Table names start with ``bk_``. An entry's row holds what
never changes (site, number, year) and points at its current version; every edit adds
a row to ``bk_versions``, which the database refuses to update or delete (triggers,
see the migration). The watch list's current state is ``bk_watch``; its history is the
append-only ``bk_watch_events``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class AppendOnlyError(RuntimeError):
    """Code tried to change or delete a row of an append-only table."""


class Entry(Base):
    """A reception: its number per site and year, and its current version."""

    __tablename__ = "bk_entries"
    __table_args__ = (UniqueConstraint("site", "year", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    province: Mapped[str] = mapped_column(String(64), index=True)
    """The province (or the central office) the site belongs to, when the entry was made."""
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    current_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    """``bk_versions.id`` of the latest version."""


class Version(Base):
    """One version of an entry, as written; never changed."""

    __tablename__ = "bk_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("bk_entries.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    received_on: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    forwarded_to: Mapped[str] = mapped_column(String(300), default="")
    refusal_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    persons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    people_count: Mapped[int] = mapped_column(Integer)
    crowd: Mapped[bool] = mapped_column(Boolean)
    representatives: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text, default="")
    session_id: Mapped[str] = mapped_column(String(64), default="")
    recording_marker: Mapped[str] = mapped_column(String(64), default="")
    prior_bodies: Mapped[list[str]] = mapped_column(JSON)
    official: Mapped[str] = mapped_column(String(200), default="")
    complex: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    resolved_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    deadline: Mapped[date | None] = mapped_column(Date, nullable=True)
    deadline_rule: Mapped[str] = mapped_column(String(300), default="")


class WatchItem(Base):
    """A crowd delegation or a complex, prolonged case followed by an area's office."""

    __tablename__ = "bk_watch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    province: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``crowd`` or ``complex``."""
    title: Mapped[str] = mapped_column(String(300))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("bk_entries.id"), nullable=True)
    people_count: Mapped[int] = mapped_column(Integer, default=0)
    official: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16))
    next_dialogue: Mapped[date | None] = mapped_column(Date, nullable=True)
    deadline: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class WatchEvent(Base):
    """One change to a watch item; never changed."""

    __tablename__ = "bk_watch_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("bk_watch.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    by: Mapped[str] = mapped_column(String(200))
    change: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


@event.listens_for(Version, "before_update")
@event.listens_for(Version, "before_delete")
@event.listens_for(WatchEvent, "before_update")
@event.listens_for(WatchEvent, "before_delete")
def _refuse(_mapper: Any, _connection: Any, target: Any) -> None:
    raise AppendOnlyError(f"{type(target).__tablename__} is append-only")
