"""What the accounts hand out: users, signed-in sessions, events, and the kinds of event."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import NewType

from core.access import Role
from core.ids import SiteId

UserName = NewType("UserName", str)
"""An account's name: 3-64 characters, lower-case letters, digits, ``.``, ``_``, ``-``."""


class EventKind(enum.StrEnum):
    """What happened to an account (the ``event`` column of ``acc_events``)."""

    LOGIN_OK = "login_ok"
    LOGIN_FAILED = "login_failed"
    LOCKED = "locked"
    """Too many failed sign-ins: the account is locked for a while."""
    LOGOUT = "logout"
    USER_ADDED = "user_added"
    DISABLED = "disabled"
    ENABLED = "enabled"
    PASSWORD_RESET = "password_reset"
    """An administrator handed out a new one-time password."""
    PASSWORD_CHANGED = "password_changed"
    """The user chose a new password."""
    ROLES_CHANGED = "roles_changed"


@dataclass(frozen=True, slots=True)
class UserView:
    """An account as stored, without its password hash."""

    name: UserName
    """The account's name (its key)."""
    display_name: str
    """The person's name as shown on pages."""
    site: SiteId
    """The site the person works for."""
    roles: frozenset[Role]
    """What the person may do; never empty, never ``public``."""
    disabled: bool
    """A disabled account cannot sign in and has no sessions."""
    must_change_password: bool
    """The password is a one-time password; the person must choose a new one."""
    locked_until: datetime | None
    """Sign-in is refused until then (UTC) after too many failures; None if not locked."""
    password_changed_at: datetime
    """When the password was last set (UTC)."""
    created_at: datetime
    """When the account was added (UTC)."""

    def __post_init__(self) -> None:
        if not self.roles:
            raise ValueError(f"user {self.name} has no role")


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A valid sign-in session: who is signed in and what they may do."""

    user: UserName
    """The account's name."""
    display_name: str
    """The person's name as shown on pages."""
    site: SiteId
    """The site the person works for."""
    roles: frozenset[Role]
    """The account's roles now (a change applies to sessions already open)."""
    csrf_token: str
    """This session's anti-forgery token, to be echoed by every state-changing request."""
    expires: datetime
    """The session ends then (UTC), whatever happens before."""
    must_change_password: bool
    """The person signed in with a one-time password and must choose a new one."""

    def __post_init__(self) -> None:
        if not self.roles:
            raise ValueError(f"user {self.user} has no role")
        if not self.csrf_token:
            raise ValueError("a session needs a CSRF token")


@dataclass(frozen=True, slots=True)
class EventView:
    """One line of the account events log, as read back."""

    id: int
    """Increasing with time."""
    at: datetime
    """When it happened (UTC)."""
    user: str
    """The account concerned; empty for a sign-in under an unknown name."""
    event: EventKind
    """What happened."""
    by: str
    """Who acted; empty for the system (a lock after failed sign-ins)."""
    remote: str
    """The client's address, if known."""
    detail: str
    """A few words more; never a password or a hash."""
