"""Tables of the accounts: users and their roles, sign-in sessions, the events log.

Declared on :class:`core.db.Base`; the history is the Alembic branch ``accounts`` in
``accounts/migrations/versions``. Table names start with ``acc_``. No column holds a
password; ``acc_users.password_hash`` holds its argon2 hash and nothing else does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.values import EventKind
from core.access import Role
from core.db import Base, UTCDateTime


def _enum(cls: type[Role] | type[EventKind], name: str, length: int) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
    )


class User(Base):
    """Someone who signs in: their site, roles, password hash and lock state."""

    __tablename__ = "acc_users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(String(64), index=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str] = mapped_column(String(256))
    """argon2id, as ``argon2.PasswordHasher.hash`` encodes it (parameters included)."""
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """A session that began before this instant is no longer valid."""
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    """The password is a one-time password handed out by an administrator."""
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Failed sign-ins since the last success or lock."""
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.roles)


class UserRole(Base):
    """One role a user holds."""

    __tablename__ = "acc_user_roles"

    user_name: Mapped[str] = mapped_column(
        ForeignKey("acc_users.name", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role, "acc_role", 32), primary_key=True)
    user: Mapped[User] = relationship(back_populates="roles")


class SignInSession(Base):
    """A server-side sign-in session; the cookie holds the raw token, this row its hash."""

    __tablename__ = "acc_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the raw token, in hex."""
    user_name: Mapped[str] = mapped_column(
        ForeignKey("acc_users.name", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))


class NameFailures(Base):
    """Wrong sign-ins under a name no account has, counted and locked like an account's,
    so that the answers never tell an unknown name from a known one.

    The name is not kept (it is often a password typed in the wrong field): ``key`` is an
    argon2 digest of it with the sign-in hasher's parameters (computed instead of the
    check a known name costs, so both take the same time).
    """

    __tablename__ = "acc_name_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AccountEvent(Base):
    """One line of the append-only account log: sign-ins, lockouts, administration."""

    __tablename__ = "acc_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_name: Mapped[str] = mapped_column(String(64), index=True)
    """The account concerned; empty for a sign-in under a name no account has."""
    event: Mapped[EventKind] = mapped_column(_enum(EventKind, "acc_event", 32))
    by: Mapped[str] = mapped_column(String(200), default="")
    """Who acted: an administrator, the user themself, or empty for the system."""
    remote: Mapped[str] = mapped_column(String(64), default="")
    """The client's address, when the action came over the network."""
    detail: Mapped[str] = mapped_column(Text, default="")


class AppendOnlyError(RuntimeError):
    """Someone tried to change or delete an account event."""


@event.listens_for(AccountEvent, "before_update")
@event.listens_for(AccountEvent, "before_delete")
def _refuse_change(_mapper: Any, _connection: Any, target: AccountEvent) -> None:
    raise AppendOnlyError(f"account event {target.id} cannot be changed or deleted")
