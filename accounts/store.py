"""The accounts' database: transactions, the events log, a user's row locked for writing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session as DB

from accounts.errors import UnknownUser
from accounts.models import AccountEvent, SignInSession, User
from accounts.values import EventKind, UserName, UserView
from core.db import Transactions
from core.ids import SiteId


def utcnow() -> datetime:
    return datetime.now(UTC)


def user_view(user: User, now: datetime) -> UserView:
    """``user`` as handed out; ``locked_until`` only while the lock holds at ``now``."""
    return UserView(
        name=UserName(user.name),
        display_name=user.display_name,
        site=SiteId(user.site),
        roles=user.role_set,
        disabled=user.disabled,
        must_change_password=user.must_change_password,
        locked_until=user.locked_until if is_locked(user, now) else None,
        password_changed_at=user.password_changed_at,
        created_at=user.created_at,
    )


def is_locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and now < user.locked_until


class AccountStore(Transactions):
    """Reads and one-transaction writes on the ``acc_`` tables."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(engine)
        self.clock = clock

    def event(
        self,
        db: DB,
        user: str,
        kind: EventKind,
        *,
        by: str = "",
        remote: str = "",
        detail: str = "",
    ) -> None:
        """Append a line to the events log, in ``db``'s transaction."""
        db.add(
            AccountEvent(
                at=self.clock(),
                user_name=user[:64],
                event=kind,
                by=by[:200],
                remote=remote[:64],
                detail=detail[:2000],
            )
        )

    @staticmethod
    def locked_user(db: DB, name: str) -> User:
        """The user's row, locked against concurrent writers until the transaction ends."""
        user = db.scalars(select(User).where(User.name == name).with_for_update()).first()
        if user is None:
            raise UnknownUser(name)
        return user

    @staticmethod
    def end_sessions(db: DB, name: str) -> int:
        """Delete every sign-in session of ``name``; how many there were."""
        result = db.execute(delete(SignInSession).where(SignInSession.user_name == name))
        return int(getattr(result, "rowcount", 0) or 0)
