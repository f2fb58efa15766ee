"""``serve --demo``: a migrated database, the default site tree and one open session."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from config.settings import Settings
from core.access import Role
from core.sessions import SessionState
from sessions.requests import Participant, SessionRequest
from sessions.store import Store
from sessions.views import SessionView
from signaling.tokens import issue_token
from web.database import migrate_all

logger = logging.getLogger(__name__)

DEMO_TITLE = "Phiên tiếp công dân trực tuyến (trình diễn)"
DEMO_HOST = "tw-hanoi"
DEMO_SITES = ("bac-ninh", "ha-noi", "hai-phong")
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DemoLinks:
    session: SessionView
    """The open demo session."""
    links: tuple[tuple[str, str], ...]
    """(label, url) pairs a newcomer needs."""


def _first_room(store: Store, site_id: str) -> int | None:
    site = store.get_site(site_id)
    return site.rooms[0].id if site and site.rooms else None


def demo_session(store: Store, now: datetime) -> SessionView:
    """The open demo session: reused while it has an hour left, else a new one."""
    for view in store.list_sessions(now, now + DAY, site_ids=frozenset({DEMO_HOST})):
        if (
            view.title == DEMO_TITLE
            and view.state is SessionState.OPEN
            and view.ends_at > now + timedelta(hours=1)
        ):
            return view
        if view.title == DEMO_TITLE and view.state in (SessionState.PLANNED, SessionState.OPEN):
            closing = (
                SessionState.CLOSED if view.state is SessionState.OPEN else SessionState.CANCELLED
            )
            store.set_state(view.id, closing, note="replaced by a new demo session")
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=5)
    participants = tuple(
        Participant(site, _first_room(store, site)) for site in (DEMO_HOST, *DEMO_SITES)
    )
    booked = store.book(
        SessionRequest(
            title=DEMO_TITLE,
            host_site_id=DEMO_HOST,
            starts_at=start,
            ends_at=start + DAY,
            participants=participants,
            officials=("Lãnh đạo Ban Tiếp công dân Trung ương",),
            agenda="Phiên trình diễn: kết nối các điểm cầu, ghi hình, tra cứu lưu trữ",
            allow_day_off=True,
            slot_minutes=30,
        )
    )
    return store.set_state(booked.id, SessionState.OPEN, note="demo")


def prepare_demo(settings: Settings, store: Store) -> DemoLinks:
    """Migrate, load the default site tree if empty, open the demo session, sign links."""
    migrate_all(store.engine)
    if store.site_count() == 0:
        store.load_tree()
    now = datetime.now(UTC)
    session = demo_session(store, now)
    secret = settings.signing_secret()
    base = settings.base_url
    links: list[tuple[str, str]] = []
    for site in DEMO_SITES[:2]:
        token = issue_token(
            secret,
            role=Role.ROOM,
            site=site,
            session=session.id,
            subject=f"room@{site}",
            not_before=session.starts_at - timedelta(minutes=15),
            expires=min(session.ends_at, now + DAY),
        )
        links.append((f"room {site}", f"{base}/room?token={token}"))
    operator = issue_token(
        secret, role=Role.OPERATOR, site=DEMO_HOST, session=session.id, subject="operator@demo"
    )
    links.append((f"operator console {DEMO_HOST}", f"{base}/console?token={operator}"))
    clerk = issue_token(secret, role=Role.CLERK, site=DEMO_HOST, subject="clerk@demo")
    links.append(("archive (clerk)", f"{base}/archive?token={clerk}"))
    links.append(("public schedule", f"{base}/schedule"))
    links.append(("API description", f"{base}/api/openapi.json"))
    return DemoLinks(session, tuple(links))
