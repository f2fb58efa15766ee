"""Tables of the scheduler: sites and rooms, calendar overrides, rules, sessions, slots."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime
from core.sessions import SessionState


class SiteLevel(enum.StrEnum):
    CENTRAL = "central"
    PROVINCE = "province"
    DISTRICT = "district"
    """Legacy: district offices closed on 1 July 2025; old records still name them."""
    COMMUNE = "commune"
    """A commune, ward or special zone."""
    DEPARTMENT = "department"


class HostKind(enum.StrEnum):
    HEAD = "head"
    """The head of the site (chairman, director) receives in person."""
    STAFF = "staff"
    """Reception-office staff receive."""


class RuleKind(enum.StrEnum):
    REGULAR = "regular"
    """Office hours on every working day."""
    PERIODIC = "periodic"
    """The head's reception, weekly on a weekday or monthly on day N."""
    SPECIAL = "special"
    """A special period (congress, election): every day, days off included."""


class Frequency(enum.StrEnum):
    WORKING_DAYS = "working_days"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    DAILY = "daily"


class SessionKind(enum.StrEnum):
    REGULAR = "regular"
    PERIODIC = "periodic"
    AD_HOC = "ad_hoc"
    SPECIAL = "special"


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(
        cls,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Site(Base):
    """A reception site: a node of the tree, valid between two dates."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    level: Mapped[SiteLevel] = mapped_column(_enum(SiteLevel))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    address: Mapped[str] = mapped_column(String(300), default="")
    rooms: Mapped[list[Room]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="Room.id"
    )

    def active_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )


class Room(Base):
    """A reception room of a site (with its camera, screen and microphone)."""

    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    site: Mapped[Site] = relationship(back_populates="rooms")


class CalendarOverride(Base):
    """A government decision for one day: a weekday off or a weekend day worked."""

    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(300), default="")


class ReceptionRule(Base):
    """A recurring reception; times are wall-clock in Asia/Ho_Chi_Minh."""

    __tablename__ = "reception_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[RuleKind] = mapped_column(_enum(RuleKind))
    frequency: Mapped[Frequency] = mapped_column(_enum(Frequency))
    host_kind: Mapped[HostKind] = mapped_column(_enum(HostKind))
    weekday: Mapped[int | None] = mapped_column(Integer)
    month_day: Mapped[int | None] = mapped_column(Integer)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    officials: Mapped[list[str]] = mapped_column(JSON, default=list)
    slot_minutes: Mapped[int | None] = mapped_column(Integer)


class ReceptionSession(Base):
    """One reception session: host, participating sites, times (UTC), state."""

    __tablename__ = "reception_sessions"
    __table_args__ = (UniqueConstraint("rule_id", "starts_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[SessionKind] = mapped_column(_enum(SessionKind))
    state: Mapped[SessionState] = mapped_column(_enum(SessionState), index=True)
    host_site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    host_kind: Mapped[HostKind] = mapped_column(_enum(HostKind))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("reception_rules.id"))
    on_day_off: Mapped[bool] = mapped_column(Boolean, default=False)
    record: Mapped[bool] = mapped_column(Boolean, default=True)
    officials: Mapped[list[str]] = mapped_column(JSON, default=list)
    agenda: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sites: Mapped[list[SessionSite]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="SessionSite.site_id"
    )
    slots: Mapped[list[Slot]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="Slot.starts_at"
    )


class SessionSite(Base):
    """A site taking part in a session, with the room it uses (if booked)."""

    __tablename__ = "session_sites"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("reception_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True, index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), index=True)
    session: Mapped[ReceptionSession] = relationship(back_populates="sites")


class Slot(Base):
    """A bookable time within a session for one citizen (or delegation) and a case."""

    __tablename__ = "session_slots"
    __table_args__ = (UniqueConstraint("session_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("reception_sessions.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    citizen_name: Mapped[str | None] = mapped_column(String(200))
    case_kind: Mapped[str | None] = mapped_column(String(32))
    case_ref: Mapped[str | None] = mapped_column(String(100))
    people_count: Mapped[int] = mapped_column(Integer, default=0)
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session: Mapped[ReceptionSession] = relationship(back_populates="slots")

    def as_public(self) -> dict[str, Any]:
        """Free or taken, never who: a denouncer's name is confidential."""
        return {
            "id": self.id,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "booked": self.booked_at is not None,
        }
