"""Why the scheduler refused something: a stable code, a sentence, and its kind."""

from __future__ import annotations

import enum


class Refusal(enum.StrEnum):
    """The kind of refusal; the web layer maps it to an HTTP status."""

    INVALID = "invalid"
    """The request is malformed or inconsistent (end before start...)."""
    NOT_FOUND = "not_found"
    """A named site, room, rule or session does not exist."""
    CONFLICT = "conflict"
    """It clashes with what is stored (a room already booked, a day off...)."""
    FORBIDDEN = "forbidden"
    """The caller may not touch these sites."""


class ScheduleError(Exception):
    """A refused scheduler operation; nothing was written."""

    def __init__(self, kind: Refusal, code: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message


def invalid(code: str, message: str) -> ScheduleError:
    return ScheduleError(Refusal.INVALID, code, message)


def not_found(code: str, message: str) -> ScheduleError:
    return ScheduleError(Refusal.NOT_FOUND, code, message)


def conflict(code: str, message: str) -> ScheduleError:
    return ScheduleError(Refusal.CONFLICT, code, message)


def forbidden(code: str, message: str) -> ScheduleError:
    return ScheduleError(Refusal.FORBIDDEN, code, message)
