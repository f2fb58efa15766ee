"""Accounts: adding and administering users, checking passwords, sign-in sessions.

Methods are synchronous (SQLAlchemy sessions, argon2); callers run them in a thread.
argon2 runs outside database transactions, so a slow hash never holds SQLite's write
lock. No password or hash reaches a log line or the events log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DB

from accounts.errors import InvalidAccountInput, LastAdministrator, LoginRefused, UserExists
from accounts.models import AccountEvent, SignInSession, User, UserRole
from accounts.passwords import PasswordCheck
from accounts.rules import (
    check_display_name,
    check_new_password,
    check_roles,
    check_site,
    check_user_name,
    new_token,
    one_time_password,
    token_id,
)
from accounts.store import AccountStore, user_view, utcnow
from accounts.values import EventKind, EventView, SignedIn, UserName, UserView
from core.access import Role
from core.ids import SiteId

logger = logging.getLogger(__name__)

SESSION_TTL = timedelta(hours=12)
"""A sign-in session ends this long after it began, used or not."""
LAST_SEEN_EVERY = timedelta(minutes=1)
"""``last_seen`` is written at most this often per session, not on every request."""
MAX_TOKEN_LENGTH = 200
"""Longer cookie values are refused unhashed (ours are 43 characters)."""


def _role_list(roles: Iterable[Role]) -> str:
    return ", ".join(sorted(str(r) for r in roles))


class Accounts:
    """Users, their passwords and sign-in sessions in one database."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        hasher: PasswordHasher | None = None,
        session_ttl: timedelta = SESSION_TTL,
    ) -> None:
        if session_ttl <= timedelta(0):
            raise ValueError("session_ttl must be positive")
        self.engine = engine
        self._store = AccountStore(engine, clock)
        self._passwords = PasswordCheck(self._store, hasher or PasswordHasher())
        self._session_ttl = session_ttl

    # administration

    def add_user(
        self,
        name: str,
        display_name: str,
        site: str,
        roles: Iterable[Role | str],
        *,
        by: str,
        remote: str = "",
    ) -> tuple[UserView, str]:
        """Add an account with a one-time password, returned here and nowhere else."""
        user_name = check_user_name(name)
        shown = check_display_name(display_name)
        site_id = check_site(site)
        role_set = check_roles(roles)
        password = one_time_password()
        password_hash = self._passwords.hash(password)
        now = self._store.clock()
        try:
            with self._store.write() as db:
                if db.get(User, user_name) is not None:
                    raise UserExists(user_name)
                user = User(
                    name=user_name,
                    display_name=shown,
                    site=site_id,
                    disabled=False,
                    password_hash=password_hash,
                    password_changed_at=now,
                    must_change_password=True,
                    failed_attempts=0,
                    locked_until=None,
                    created_at=now,
                    roles=[UserRole(role=r) for r in sorted(role_set)],
                )
                db.add(user)
                self._store.event(
                    db,
                    user_name,
                    EventKind.USER_ADDED,
                    by=by,
                    remote=remote,
                    detail=f"site {site_id}; roles {_role_list(role_set)}",
                )
                db.flush()
                view = user_view(user, self._store.clock())
        except IntegrityError:
            raise UserExists(user_name) from None
        logger.info("user %s added at site %s by %s", user_name, site_id, by)
        return view, password

    def disable(self, name: str, *, by: str, remote: str = "") -> UserView:
        """Refuse the account every sign-in and end its sessions at once.

        :class:`LastAdministrator` for the last enabled administrator."""
        with self._store.write() as db:
            user = self._store.locked_user(db, name)
            if not user.disabled:
                self._keep_an_administrator(db, user)
            ended = self._store.end_sessions(db, name)
            if not user.disabled:
                user.disabled = True
                self._store.event(db, name, EventKind.DISABLED, by=by, remote=remote)
            view = user_view(user, self._store.clock())
        logger.info("user %s disabled by %s (%d sessions ended)", name, by, ended)
        return view

    def enable(self, name: str, *, by: str, remote: str = "") -> UserView:
        with self._store.write() as db:
            user = self._store.locked_user(db, name)
            if user.disabled:
                user.disabled = False
                self._store.event(db, name, EventKind.ENABLED, by=by, remote=remote)
            view = user_view(user, self._store.clock())
        logger.info("user %s enabled by %s", name, by)
        return view

    def reset_password(self, name: str, *, by: str, remote: str = "") -> str:
        """A new one-time password (returned only here); unlocks and ends every session."""
        password = one_time_password()
        password_hash = self._passwords.hash(password)
        with self._store.write() as db:
            user = self._store.locked_user(db, name)
            user.password_hash = password_hash
            user.password_changed_at = self._store.clock()
            user.must_change_password = True
            user.failed_attempts = 0
            user.locked_until = None
            ended = self._store.end_sessions(db, name)
            self._store.event(db, name, EventKind.PASSWORD_RESET, by=by, remote=remote)
        logger.info("password of user %s reset by %s (%d sessions ended)", name, by, ended)
        return password

    def set_roles(
        self, name: str, roles: Iterable[Role | str], *, by: str, remote: str = ""
    ) -> UserView:
        """Replace the account's roles; open sessions see the new roles at once.

        :class:`LastAdministrator` if the last enabled administrator would lose the role."""
        role_set = check_roles(roles)
        with self._store.write() as db:
            user = self._store.locked_user(db, name)
            before = user.role_set
            if Role.ADMINISTRATOR in before and Role.ADMINISTRATOR not in role_set:
                self._keep_an_administrator(db, user)
            if before != role_set:
                user.roles = [UserRole(role=r) for r in sorted(role_set)]
                self._store.event(
                    db,
                    name,
                    EventKind.ROLES_CHANGED,
                    by=by,
                    remote=remote,
                    detail=f"{_role_list(before)} -> {_role_list(role_set)}",
                )
                db.flush()
            view = user_view(user, self._store.clock())
        logger.info("roles of user %s set to %s by %s", name, _role_list(role_set), by)
        return view

    @staticmethod
    def _keep_an_administrator(db: DB, user: User) -> None:
        """Refuse to take ``user`` out of administration if nobody else is left in it.

        The enabled administrators' rows are locked until the transaction ends, so two
        administrators disabling each other at once cannot both succeed."""
        if user.disabled or Role.ADMINISTRATOR not in user.role_set:
            return
        admins = db.scalars(
            select(User.name)
            .join(UserRole, UserRole.user_name == User.name)
            .where(UserRole.role == Role.ADMINISTRATOR, User.disabled.is_(False))
            .with_for_update(of=User)
        ).all()
        if set(admins) <= {user.name}:
            raise LastAdministrator(user.name)

    def get_user(self, name: str) -> UserView | None:
        with self._store.read() as db:
            user = db.get(User, name)
            return user_view(user, self._store.clock()) if user else None

    def list_users(self, site_ids: Iterable[str] | None = None) -> list[UserView]:
        """Every account, by name; only those of ``site_ids`` when given."""
        query = select(User).order_by(User.name)
        if site_ids is not None:
            query = query.where(User.site.in_(list(site_ids)))
        now = self._store.clock()
        with self._store.read() as db:
            return [user_view(u, now) for u in db.scalars(query)]

    def events(self, *, user: str | None = None, limit: int = 200) -> list[EventView]:
        """Newest first; only those about ``user`` when given."""
        query = select(AccountEvent).order_by(AccountEvent.id.desc()).limit(min(limit, 1000))
        if user is not None:
            query = query.where(AccountEvent.user_name == user)
        with self._store.read() as db:
            return [
                EventView(e.id, e.at, e.user_name, e.event, e.by, e.remote, e.detail)
                for e in db.scalars(query)
            ]

    # passwords

    def authenticate(self, name: str, password: str, *, remote: str) -> UserView:
        """The account if ``password`` is its password, or :class:`LoginRefused`.

        ``bad_credentials`` for an unknown name and a wrong password alike (an unknown
        name costs the same argon2 time); ``locked`` once :data:`LOCK_AFTER` wrong
        passwords in a row lock the name for :data:`LOCK_FOR`; ``disabled``, told only
        to someone who knows the password.
        """

        def signed_in(db: DB, user: User) -> None:
            self._store.event(db, user.name, EventKind.LOGIN_OK, by=user.name, remote=remote)

        view = self._passwords.verify(
            name, password, remote=remote, purpose="sign-in", then=signed_in
        )
        logger.info("user %s signed in from %s", name, remote or "?")
        return view

    def set_password(self, name: str, old: str, new: str, *, remote: str = "") -> UserView:
        """The user replaces their password, which ends every session of theirs.

        ``old`` is checked like a sign-in (a wrong one counts towards the lock); the
        caller signs the user in again with the new password.
        """
        check_new_password(name, new)
        if new == old:
            raise InvalidAccountInput("password_unchanged", "choose a password you have not used")
        new_hash = self._passwords.hash(new)

        def replace(db: DB, user: User) -> None:
            user.password_hash = new_hash
            user.password_changed_at = self._store.clock()
            user.must_change_password = False
            self._store.end_sessions(db, user.name)
            self._store.event(
                db, user.name, EventKind.PASSWORD_CHANGED, by=user.name, remote=remote
            )

        view = self._passwords.verify(
            name, old, remote=remote, purpose="password change", then=replace
        )
        logger.info("user %s changed their password from %s", name, remote or "?")
        return view

    # sign-in sessions

    def start_session(self, user: UserView, *, remote: str = "") -> tuple[str, SignedIn]:
        """A new session for ``user`` (as :meth:`authenticate` returned it).

        Returns the raw token, for the cookie and nowhere else (only its SHA-256 is
        stored), and the session. Refused if the account was disabled, or its password
        changed, since ``user`` was read.
        """
        raw = new_token()
        now = self._store.clock()
        with self._store.write() as db:
            row = self._store.locked_user(db, user.name)
            if row.disabled:
                raise LoginRefused("disabled")
            if row.password_changed_at != user.password_changed_at:
                raise LoginRefused("bad_credentials")
            session = SignInSession(
                id=token_id(raw),
                user_name=row.name,
                created_at=now,
                last_seen=now,
                expires_at=now + self._session_ttl,
                csrf_token=new_token(),
            )
            db.add(session)
            signed_in = _signed_in(row, session)
        logger.info("session started for user %s from %s", user.name, remote or "?")
        return raw, signed_in

    def sign_in(self, name: str, password: str, *, remote: str) -> tuple[str, SignedIn]:
        """:meth:`authenticate`, then :meth:`start_session`."""
        return self.start_session(self.authenticate(name, password, remote=remote), remote=remote)

    def session(self, raw_token: str) -> SignedIn | None:
        """The session of a cookie's token; None if unknown, expired or no longer valid.

        A session is no longer valid once its account is disabled or its password
        changed after the session began (a reset or the user's own change).
        """
        if not raw_token or len(raw_token) > MAX_TOKEN_LENGTH:
            return None
        key = token_id(raw_token)
        now = self._store.clock()
        with self._store.read() as db:
            session = db.get(SignInSession, key)
            if session is None:
                return None
            user = db.get(User, session.user_name)
            valid = (
                user is not None
                and not user.disabled
                and now < session.expires_at
                and user.password_changed_at <= session.created_at
            )
            signed_in = _signed_in(user, session) if valid and user is not None else None
            stale = now - session.last_seen >= LAST_SEEN_EVERY
        if signed_in is None:
            with self._store.write() as db:
                db.execute(delete(SignInSession).where(SignInSession.id == key))
            return None
        if stale:
            with self._store.write() as db:
                row = db.get(SignInSession, key)
                if row is not None:
                    row.last_seen = now
        return signed_in

    def end_session(self, raw_token: str, *, remote: str = "") -> bool:
        """Sign out: forget the session. False if there was none."""
        if not raw_token or len(raw_token) > MAX_TOKEN_LENGTH:
            return False
        with self._store.write() as db:
            session = db.get(SignInSession, token_id(raw_token))
            if session is None:
                return False
            name = session.user_name
            db.delete(session)
            self._store.event(db, name, EventKind.LOGOUT, by=name, remote=remote)
        logger.info("user %s signed out from %s", name, remote or "?")
        return True

    def end_user_sessions(self, name: str) -> int:
        """End every session of ``name``; how many there were."""
        with self._store.write() as db:
            ended = self._store.end_sessions(db, name)
        logger.info("%d sessions of user %s ended", ended, name)
        return ended

    def purge_expired(self) -> int:
        """Forget sessions past their end; how many there were."""
        with self._store.write() as db:
            result = db.execute(
                delete(SignInSession).where(SignInSession.expires_at <= self._store.clock())
            )
        return int(getattr(result, "rowcount", 0) or 0)


def _signed_in(user: User, session: SignInSession) -> SignedIn:
    return SignedIn(
        user=UserName(user.name),
        display_name=user.display_name,
        site=SiteId(user.site),
        roles=user.role_set,
        csrf_token=session.csrf_token,
        expires=session.expires_at,
        must_change_password=user.must_change_password,
    )
