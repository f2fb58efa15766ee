"""Typed app state of the reception book."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from aiohttp import web

from book.reports import SessionCounts
from book.store import BookStore
from book.watch import WatchList
from recorder.audit import AuditLog


@dataclass(frozen=True, slots=True)
class BookServices:
    """What the book's routes use, built once per app."""

    store: BookStore
    watch: WatchList
    audit: AuditLog
    """The archive's append-only audit log: every export of the book is a line in it."""
    scope_of: Callable[[str], frozenset[str] | None]
    """The provinces a reader acting for a site sees (None: the central office, all)."""
    sessions: Callable[[date, date], Mapping[str, SessionCounts]]
    """Sessions held and online links per province in a period, from the scheduler."""
    site_name: Callable[[str], str]
    """A site's name as an office writes it (for the printed report)."""
    today: Callable[[], date]
    """Today in Vietnam (overdue deadlines)."""


BOOK = web.AppKey("book_services", BookServices)
