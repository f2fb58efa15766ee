"""Why the accounts refused something: a stable code and a sentence.

The web layer maps the class to an HTTP status and shows the code; nothing was written
when one of these is raised, except the failed-attempt count and the events log of a
refused sign-in.
"""

from __future__ import annotations

from typing import Literal

LoginCode = Literal["bad_credentials", "locked", "disabled"]

_LOGIN_MESSAGES: dict[LoginCode, str] = {
    "bad_credentials": "wrong user name or password",
    "locked": "too many failed sign-ins; try again later",
    "disabled": "this account is disabled",
}


class AccountError(Exception):
    """A refused account operation; ``code`` is stable, ``message`` says why in words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidAccountInput(AccountError):
    """Malformed or unacceptable input: a bad user name, role, site or password."""


class UnknownUser(AccountError):
    """No account has this name (``unknown_user``); never raised by sign-in."""

    def __init__(self, name: str) -> None:
        super().__init__("unknown_user", f"no user named {name!r}")


class UserExists(AccountError):
    """An account with this name exists already (``user_exists``)."""

    def __init__(self, name: str) -> None:
        super().__init__("user_exists", f"a user named {name!r} exists already")


class LastAdministrator(AccountError):
    """The change would leave no enabled administrator (``last_administrator``): the
    last one cannot be disabled nor lose the role; nobody could administer then."""

    def __init__(self, name: str) -> None:
        super().__init__(
            "last_administrator",
            f"{name!r} is the last enabled administrator: add or enable another first",
        )


class LoginRefused(AccountError):
    """A sign-in or password check failed.

    ``bad_credentials`` stands for an unknown name and a wrong password alike, so the
    answer does not tell which names exist.
    """

    code: LoginCode

    def __init__(self, code: LoginCode) -> None:
        super().__init__(code, _LOGIN_MESSAGES[code])
