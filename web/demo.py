"""``serve --demo``: a migrated database, the default site tree, one open session, and
accounts to sign in with (a first administrator on an empty database; demo accounts
whose one-time passwords are printed again at every demo start)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from accounts.service import Accounts
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
FIRST_ADMIN = "admin"
DEMO_ACCOUNTS = (
    ("demo-operator", "Điều hành viên (trình diễn)", DEMO_HOST, (Role.OPERATOR,)),
    ("demo-scheduler", "Cán bộ xếp lịch (trình diễn)", DEMO_HOST, (Role.SCHEDULER,)),
    ("demo-clerk", "Văn thư lưu trữ (trình diễn)", DEMO_HOST, (Role.CLERK,)),
    *(
        (f"demo-room-{site}", f"Phòng tiếp công dân {site} (trình diễn)", site, (Role.ROOM,))
        for site in DEMO_SITES[:2]
    ),
)
"""Demo accounts: (name, display name, site, roles)."""


def first_administrator(accounts: Accounts) -> str | None:
    """On a database with no user at all, add ``admin`` (central office); its one-time
    password, else None."""
    if accounts.list_users():
        return None
    _, password = accounts.add_user(
        FIRST_ADMIN,
        "Quản trị hệ thống",
        DEMO_HOST,
        (Role.ADMINISTRATOR,),
        by="reception-bridge serve",
    )
    return password


def demo_accounts(accounts: Accounts) -> list[tuple[str, str, str]]:
    """Each demo account, added if missing, with a fresh one-time password."""
    out = []
    for name, display, site, roles in DEMO_ACCOUNTS:
        if accounts.get_user(name) is None:
            _, password = accounts.add_user(name, display, site, roles, by="serve --demo")
        else:
            password = accounts.reset_password(name, by="serve --demo")
        out.append((name, f"{', '.join(roles)} @ {site}", password))
    return out


@dataclass(frozen=True, slots=True)
class DemoLinks:
    session: SessionView
    """The open demo session."""
    links: tuple[tuple[str, str], ...]
    """(label, url) pairs a newcomer needs."""
    accounts: tuple[tuple[str, str, str], ...] = ()
    """(user name, what it is for, one-time password) for the accounts to try."""


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
    accounts = Accounts(store.engine)
    admin = first_administrator(accounts)
    tried = [(FIRST_ADMIN, f"administrator @ {DEMO_HOST}", admin)] if admin else []
    tried += demo_accounts(accounts)
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
    links.append(("sign in", f"{base}/login"))
    return DemoLinks(session, tuple(links), tuple(tried))
