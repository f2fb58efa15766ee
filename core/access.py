"""Who may act: roles, and the claims a verified credential carries.

Tokens (``signaling.tokens``) and, later, signed-in sessions produce :class:`Claims`;
every part checks roles and sites against them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.ids import SessionId, SiteId


class Role(enum.StrEnum):
    """What the bearer may do."""

    ADMINISTRATOR = "administrator"
    SCHEDULER = "scheduler"
    OPERATOR = "operator"
    ROOM = "room"
    CLERK = "clerk"
    PUBLIC = "public"


class TokenError(Exception):
    """A token was refused; ``code`` is stable, ``message`` says why in words."""

    def __init__(self, code: str, message: str, not_before: datetime | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.not_before = not_before
        """``token_not_yet_valid``: when the token becomes valid (UTC)."""


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    role: Role
    """The bearer's role."""
    site: SiteId
    """The site the bearer acts for (a room's site, an operator's host site...)."""
    session: SessionId | None
    """The reception session the token is for; required for the media path."""
    not_before: datetime
    """Start of validity (UTC)."""
    expires: datetime
    """End of validity (UTC)."""
    subject: str = ""
    """Who the bearer is (a user name or a room name), for the audit log."""
    token_id: str = ""
    """Unique id of this token, for the audit log."""

    def __post_init__(self) -> None:
        if not self.site:
            raise TokenError("token_invalid", "token names no site")
        if self.expires <= self.not_before:
            raise TokenError("token_invalid", "token expires before it becomes valid")
