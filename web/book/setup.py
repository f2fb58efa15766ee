"""Wires the reception book into the app: the store on the scheduler's database, the
scheduler's working-day calendar and site tree, the archive's audit log, the routes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from book.reports import SessionCounts
from book.store import BookStore
from book.watch import WatchList
from core.sessions import SessionState
from recorder.audit import AuditLog
from sessions.calendar import VN_TZ, local_instant
from sessions.models import ReceptionSession, Site, SiteLevel
from sessions.sitetree import ancestors
from sessions.store import Store
from web.book import api as book_api
from web.book.keys import BOOK, BookServices


def province_of(store: Store, site: str) -> str:
    """The province (or central office) ``site`` belongs to; itself if unknown."""
    with store.read() as db:
        chain = ancestors(db, site)
    for row in chain:
        if row.level in (SiteLevel.PROVINCE, SiteLevel.CENTRAL):
            return row.id
    return chain[-1].id if chain else site


def scope_of(store: Store, site: str) -> frozenset[str] | None:
    """A central-office reader sees every province; anyone else their own province."""
    with store.read() as db:
        chain = ancestors(db, site)
    if chain and chain[0].level is SiteLevel.CENTRAL:
        return None
    return frozenset({province_of(store, site)})


def session_counts(store: Store, start: date, end: date) -> dict[str, SessionCounts]:
    """Closed sessions per host province in the Vietnamese days ``start``..``end``, and the
    sites linked into them besides the host."""
    since = local_instant(start, datetime.min.time())
    until = local_instant(end + timedelta(days=1), datetime.min.time())
    with store.read() as db:
        rows = list(
            db.scalars(
                select(ReceptionSession)
                .options(selectinload(ReceptionSession.sites))
                .where(
                    ReceptionSession.state == SessionState.CLOSED,
                    ReceptionSession.starts_at >= since,
                    ReceptionSession.starts_at < until,
                )
            )
        )
        hosts = [
            (r.host_site_id, len([s for s in r.sites if s.site_id != r.host_site_id])) for r in rows
        ]
    held: Counter[str] = Counter()
    links: Counter[str] = Counter()
    for host, linked in hosts:
        province = province_of(store, host)
        held[province] += 1
        links[province] += linked
    return {p: SessionCounts(held[p], links[p]) for p in held}


def site_name(store: Store, site: str) -> str:
    with store.read() as db:
        row = db.get(Site, site)
        return row.name if row is not None else site


def setup_book(app: web.Application, store: Store, audit: AuditLog | None = None) -> None:
    """Register the book's routes on the scheduler's database."""
    book = BookStore(store.engine, store.calendar, lambda s: province_of(store, s))
    app[BOOK] = BookServices(
        store=book,
        watch=WatchList(book),
        audit=audit or AuditLog(store.engine),
        scope_of=lambda s: scope_of(store, s),
        sessions=lambda a, b: session_counts(store, a, b),
        site_name=lambda s: site_name(store, s),
        today=lambda: datetime.now(UTC).astimezone(VN_TZ).date(),
    )
    app.router.add_routes(book_api.routes)
