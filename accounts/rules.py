"""What an account's name, site, roles and password must look like, and the secrets made here.

Each check returns the value as stored or raises :class:`InvalidAccountInput` with a
stable code. Whether a site exists in the site tree is the caller's check.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

from accounts.errors import InvalidAccountInput
from accounts.values import UserName
from core.access import Role
from core.ids import SiteId

NAME_PATTERN = re.compile(r"[a-z0-9._-]{3,64}")
PASSWORD_MIN = 10
# argon2 hashes any length, but the work grows with it: a megabyte "password" per
# request would be a cheap way to load the server.
PASSWORD_MAX = 1024
DISPLAY_NAME_MAX = 200
SITE_MAX = 64
# No 0/o, 1/l/i: a one-time password is read off a screen and typed by hand.
OTP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
OTP_GROUPS = 4
OTP_GROUP_LENGTH = 4
TOKEN_BYTES = 32


def check_user_name(raw: str) -> UserName:
    if not NAME_PATTERN.fullmatch(raw):
        raise InvalidAccountInput(
            "bad_user_name",
            "a user name is 3-64 lower-case letters, digits, '.', '_' or '-'",
        )
    return UserName(raw)


def check_display_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > DISPLAY_NAME_MAX:
        raise InvalidAccountInput(
            "bad_display_name", f"a display name is 1-{DISPLAY_NAME_MAX} characters"
        )
    if any(not ch.isprintable() for ch in name):
        raise InvalidAccountInput("bad_display_name", "a display name has no control characters")
    return name


def check_site(raw: str) -> SiteId:
    if not raw or len(raw) > SITE_MAX or any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise InvalidAccountInput("bad_site", f"a site id is 1-{SITE_MAX} characters, no spaces")
    return SiteId(raw)


def check_roles(raw: Iterable[Role | str]) -> frozenset[Role]:
    roles: set[Role] = set()
    for value in raw:
        try:
            role = Role(value)
        except ValueError:
            raise InvalidAccountInput("bad_role", f"unknown role {value!r}") from None
        if role is Role.PUBLIC:
            raise InvalidAccountInput("bad_role", "the public role is not an account's")
        roles.add(role)
    if not roles:
        raise InvalidAccountInput("no_roles", "a user needs at least one role")
    return frozenset(roles)


def check_new_password(name: str, password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise InvalidAccountInput(
            "password_too_short", f"a password has at least {PASSWORD_MIN} characters"
        )
    if len(password) > PASSWORD_MAX:
        raise InvalidAccountInput(
            "password_too_long", f"a password has at most {PASSWORD_MAX} characters"
        )
    if password.strip().casefold() == name.casefold():
        raise InvalidAccountInput("password_is_name", "a password is not the user name")
    return password


def one_time_password() -> str:
    """About 79 random bits, in groups: ``k7qm-x3zt-p9ra-2wnf``."""
    groups = (
        "".join(secrets.choice(OTP_ALPHABET) for _ in range(OTP_GROUP_LENGTH))
        for _ in range(OTP_GROUPS)
    )
    return "-".join(groups)


def new_token() -> str:
    """A random session or CSRF token (32 bytes, URL-safe text)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_id(raw_token: str) -> str:
    """What is stored for a session token: its SHA-256 in hex."""
    return hashlib.sha256(raw_token.encode()).hexdigest()
