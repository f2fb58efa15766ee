"""Checking a password: the same answer for an unknown name, a lock after repeated failures.

A sign-in and a password change both check the current password here. argon2 runs
outside any transaction, so a slow hash never holds SQLite's write lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import hash_secret_raw
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DB

from accounts.errors import LoginCode, LoginRefused
from accounts.models import NameFailures, User
from accounts.rules import NAME_PATTERN
from accounts.store import AccountStore, is_locked, user_view
from accounts.values import EventKind, UserView

logger = logging.getLogger(__name__)

LOCK_AFTER = 5
"""Wrong passwords in a row that lock an account."""
LOCK_FOR = timedelta(minutes=15)
"""How long a locked account refuses every sign-in."""
NAME_SALT = b"reception-bridge:unknown-name"
"""Salt of the digest an unknown name is counted under (not secret: the cost is)."""


class PasswordCheck:
    """Verifies passwords against ``acc_users``, counting failures and locking."""

    def __init__(self, store: AccountStore, hasher: PasswordHasher) -> None:
        self._store = store
        self._hasher = hasher

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def _name_key(self, name: str) -> str:
        """An unknown name's digest: argon2 with the hasher's own parameters, so it
        costs what checking a known name's password costs."""
        hasher = self._hasher
        raw = hash_secret_raw(
            name.encode(),
            NAME_SALT,
            time_cost=hasher.time_cost,
            memory_cost=hasher.memory_cost,
            parallelism=hasher.parallelism,
            hash_len=32,
            type=hasher.type,
        )
        return raw.hex()

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify(
        self,
        name: str,
        password: str,
        *,
        remote: str,
        purpose: str,
        then: Callable[[DB, User], None],
    ) -> UserView:
        """Check ``name``'s password; count a failure and lock after too many.

        ``then`` runs in the transaction that clears the failure count, on the user's
        row locked for writing.
        """
        now = self._store.clock()
        with self._store.read() as db:
            found = db.get(User, name) if NAME_PATTERN.fullmatch(name) else None
            seen_hash = found.password_hash if found else None
            locked = found is not None and is_locked(found, now)
        if seen_hash is None:
            refusal = self._unknown_name(name, now, remote=remote, purpose=purpose)
            logger.info("%s refused from %s: unknown name (%s)", purpose, remote or "?", refusal)
            raise LoginRefused(refusal)
        if locked:
            # The check is made anyway: a locked name answers as slowly as any other.
            self._matches(seen_hash, password)
            with self._store.write() as db:
                self._store.event(
                    db, name, EventKind.LOGIN_FAILED, remote=remote, detail=f"{purpose}: locked"
                )
            logger.info("%s refused for %s from %s: locked", purpose, name, remote or "?")
            raise LoginRefused("locked")
        matches = self._matches(seen_hash, password)
        rehashed = (
            self._hasher.hash(password)
            if matches and self._hasher.check_needs_rehash(seen_hash)
            else None
        )
        with self._store.write() as db:
            user = self._store.locked_user(db, name)
            # The hash is compared again: a reset between reading and now means the
            # password checked is no longer this account's.
            code = self._refusal(
                db,
                user,
                now,
                matches=matches and user.password_hash == seen_hash,
                remote=remote,
                purpose=purpose,
            )
            if code is None:
                user.failed_attempts = 0
                user.locked_until = None
                if rehashed is not None:
                    user.password_hash = rehashed
                then(db, user)
                db.flush()
                return user_view(user, self._store.clock())
        logger.info("%s refused for %s from %s: %s", purpose, name, remote or "?", code)
        raise LoginRefused(code)

    def _unknown_name(self, name: str, now: datetime, *, remote: str, purpose: str) -> LoginCode:
        """A sign-in under a name no account has: answered, counted, locked and logged as
        a wrong password of an account would be (the events name no account)."""
        key = self._name_key(name)
        for attempt in (1, 2):
            try:
                with self._store.write() as db:
                    row = db.scalars(
                        select(NameFailures).where(NameFailures.key == key).with_for_update()
                    ).first()
                    if row is None:
                        row = NameFailures(key=key, failed_attempts=0, last_failed_at=now)
                        db.add(row)
                    return self._count_name_failure(db, row, now, remote=remote, purpose=purpose)
            except IntegrityError:
                # Another server counted the same name's first failure at the same moment.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _count_name_failure(
        self, db: DB, row: NameFailures, now: datetime, *, remote: str, purpose: str
    ) -> LoginCode:
        row.last_failed_at = now
        if row.locked_until is not None and now < row.locked_until:
            self._store.event(
                db, "", EventKind.LOGIN_FAILED, remote=remote, detail=f"{purpose}: locked"
            )
            return "locked"
        row.failed_attempts += 1
        self._store.event(
            db,
            "",
            EventKind.LOGIN_FAILED,
            remote=remote,
            detail=f"{purpose}: wrong password ({row.failed_attempts} in a row)",
        )
        if row.failed_attempts < LOCK_AFTER:
            return "bad_credentials"
        until = now + LOCK_FOR
        row.failed_attempts = 0
        row.locked_until = until
        self._store.event(
            db,
            "",
            EventKind.LOCKED,
            remote=remote,
            detail=f"{LOCK_AFTER} wrong passwords in a row; locked until {until.isoformat()}",
        )
        logger.warning("an unknown user name locked after %d wrong passwords", LOCK_AFTER)
        return "locked"

    def _refusal(
        self, db: DB, user: User, now: datetime, *, matches: bool, remote: str, purpose: str
    ) -> LoginCode | None:
        """Why this attempt is refused (events written), or None if it is not."""
        if is_locked(user, now):
            code: LoginCode = "locked"
        elif not matches:
            return self._count_failure(db, user, now, remote=remote, purpose=purpose)
        elif user.disabled:
            code = "disabled"
        else:
            return None
        self._store.event(
            db, user.name, EventKind.LOGIN_FAILED, remote=remote, detail=f"{purpose}: {code}"
        )
        return code

    def _count_failure(
        self, db: DB, user: User, now: datetime, *, remote: str, purpose: str
    ) -> LoginCode:
        """Count a wrong password; the attempt that reaches the limit locks the account."""
        user.failed_attempts += 1
        self._store.event(
            db,
            user.name,
            EventKind.LOGIN_FAILED,
            remote=remote,
            detail=f"{purpose}: wrong password ({user.failed_attempts} in a row)",
        )
        if user.failed_attempts < LOCK_AFTER:
            return "bad_credentials"
        until = now + LOCK_FOR
        user.failed_attempts = 0
        user.locked_until = until
        self._store.event(
            db,
            user.name,
            EventKind.LOCKED,
            remote=remote,
            detail=f"{LOCK_AFTER} wrong passwords in a row; locked until {until.isoformat()}",
        )
        logger.warning(
            "user %s locked until %s after %d wrong passwords (the last from %s)",
            user.name,
            until.isoformat(),
            LOCK_AFTER,
            remote or "?",
        )
        return "locked"
