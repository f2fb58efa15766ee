"""The accounts service on SQLite: users, passwords, lockout, sessions, the events log.

The clock is injected; the hasher is argon2 with cheap parameters except where the
parameters themselves are what is tested.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.low_level import hash_secret_raw as argon2_raw
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from accounts import passwords as accounts_passwords
from accounts.db import BRANCH
from accounts.errors import (
    InvalidAccountInput,
    LastAdministrator,
    LoginRefused,
    UnknownUser,
    UserExists,
)
from accounts.models import AccountEvent, AppendOnlyError
from accounts.passwords import LOCK_FOR
from accounts.rules import PASSWORD_MIN
from accounts.service import SESSION_TTL, Accounts
from accounts.values import EventKind
from core.access import Role
from core.db import make_engine, migrate

START = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
ADMIN = "admin@tw-hanoi"
REMOTE = "192.0.2.7"


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class CountingHasher(PasswordHasher):
    """Cheap argon2 that counts verifications."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'accounts.sqlite3'}")
    migrate(engine, [BRANCH])
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def accounts(engine: Engine, clock: Clock, hasher: CountingHasher) -> Accounts:
    return Accounts(engine, clock=clock, hasher=hasher)


def _add(accounts: Accounts, name: str = "lan.nguyen", *roles: Role) -> str:
    _view, password = accounts.add_user(
        name, "Nguyễn Thị Lan", "tw-hanoi", roles or (Role.OPERATOR,), by=ADMIN
    )
    return password


def _refused(accounts: Accounts, name: str, password: str) -> str:
    with pytest.raises(LoginRefused) as caught:
        accounts.authenticate(name, password, remote=REMOTE)
    return caught.value.code


def _kinds(accounts: Accounts, user: str) -> list[EventKind]:
    return [e.event for e in reversed(accounts.events(user=user))]


# users


def test_add_user_hands_out_a_one_time_password_once(accounts: Accounts) -> None:
    view, password = accounts.add_user(
        "lan.nguyen", " Nguyễn Thị Lan ", "tw-hanoi", ["clerk", Role.OPERATOR], by=ADMIN
    )
    assert view.name == "lan.nguyen"
    assert view.display_name == "Nguyễn Thị Lan"
    assert view.roles == frozenset({Role.CLERK, Role.OPERATOR})
    assert view.must_change_password and not view.disabled and view.locked_until is None
    assert view.created_at == view.password_changed_at == START
    assert len(password) >= PASSWORD_MIN
    assert password != _add(accounts, "minh.tran")
    user = accounts.authenticate("lan.nguyen", password, remote=REMOTE)
    assert user.must_change_password
    [added] = accounts.events(user="lan.nguyen", limit=1000)[-1:]
    assert (added.event, added.by, added.detail) == (
        EventKind.USER_ADDED,
        ADMIN,
        "site tw-hanoi; roles clerk, operator",
    )
    with pytest.raises(UserExists) as caught:
        _add(accounts)
    assert caught.value.code == "user_exists"


@pytest.mark.parametrize(
    ("name", "display", "site", "roles", "code"),
    [
        ("ab", "A", "tw-hanoi", ["clerk"], "bad_user_name"),
        ("x" * 65, "A", "tw-hanoi", ["clerk"], "bad_user_name"),
        ("Lan", "A", "tw-hanoi", ["clerk"], "bad_user_name"),
        ("lan nguyen", "A", "tw-hanoi", ["clerk"], "bad_user_name"),
        ("lan/../x", "A", "tw-hanoi", ["clerk"], "bad_user_name"),
        ("lan", "  ", "tw-hanoi", ["clerk"], "bad_display_name"),
        ("lan", "A\nB", "tw-hanoi", ["clerk"], "bad_display_name"),
        ("lan", "A", "", ["clerk"], "bad_site"),
        ("lan", "A", "tw hanoi", ["clerk"], "bad_site"),
        ("lan", "A", "tw-hanoi", [], "no_roles"),
        ("lan", "A", "tw-hanoi", ["public"], "bad_role"),
        ("lan", "A", "tw-hanoi", ["root"], "bad_role"),
    ],
)
def test_add_user_refuses_bad_input(
    accounts: Accounts, name: str, display: str, site: str, roles: list[str], code: str
) -> None:
    with pytest.raises(InvalidAccountInput) as caught:
        accounts.add_user(name, display, site, roles, by=ADMIN)
    assert caught.value.code == code
    assert accounts.list_users() == []


def test_list_users_by_site_and_unknown_names(accounts: Accounts) -> None:
    accounts.add_user("a.hanoi", "A", "tw-hanoi", ["clerk"], by=ADMIN)
    accounts.add_user("b.hue", "B", "hue", ["room"], by=ADMIN)
    accounts.add_user("c.hue", "C", "hue", ["scheduler"], by=ADMIN)
    assert [u.name for u in accounts.list_users()] == ["a.hanoi", "b.hue", "c.hue"]
    assert [u.name for u in accounts.list_users(["hue"])] == ["b.hue", "c.hue"]
    assert accounts.list_users([]) == []
    assert accounts.get_user("nobody") is None
    for refused in (
        lambda: accounts.disable("nobody", by=ADMIN),
        lambda: accounts.enable("nobody", by=ADMIN),
        lambda: accounts.reset_password("nobody", by=ADMIN),
        lambda: accounts.set_roles("nobody", ["clerk"], by=ADMIN),
    ):
        with pytest.raises(UnknownUser) as caught:
            refused()
        assert caught.value.code == "unknown_user"


# sign-in


def test_unknown_user_and_wrong_password_look_the_same(
    accounts: Accounts, hasher: CountingHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add(accounts)
    digests: list[dict[str, object]] = []

    def spy(secret: bytes, salt: bytes, **params: object) -> bytes:
        digests.append(params)
        return argon2_raw(secret, salt, **params)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts_passwords, "hash_secret_raw", spy)
    answers = []
    for name in ("lan.nguyen", "nobody", "NOT A NAME"):
        hasher.verified.clear()
        digests.clear()
        with pytest.raises(LoginRefused) as caught:
            accounts.authenticate(name, "wrong password", remote=REMOTE)
        answers.append((caught.value.code, caught.value.message))
        # One argon2 run each, with the hasher's parameters: the known name's password
        # check, or the unknown name's digest (what its failures are counted under).
        if name == "lan.nguyen":
            [checked] = hasher.verified
            assert extract_parameters(checked) == extract_parameters(hasher.hash("x"))
            assert digests == []
        else:
            assert hasher.verified == []
            [params] = digests
            assert (params["time_cost"], params["memory_cost"], params["parallelism"]) == (
                hasher.time_cost,
                hasher.memory_cost,
                hasher.parallelism,
            )
            assert params["type"] == hasher.type
    assert answers == [("bad_credentials", "wrong user name or password")] * 3
    unknown = [e for e in accounts.events() if e.user == ""]
    assert [e.detail for e in unknown] == ["sign-in: wrong password (1 in a row)"] * 2


def test_an_unknown_name_locks_and_is_audited_as_a_known_one(
    accounts: Accounts, clock: Clock
) -> None:
    """The answers and the events log never tell whether a name has an account."""
    _add(accounts)
    before = {e.id for e in accounts.events()}

    def attempts(name: str) -> list[str]:
        answers = [_refused(accounts, name, f"guess-{n:04d}") for n in range(6)]
        clock.advance(minutes=15)
        answers.append(_refused(accounts, name, "guess-after-the-lock"))
        return answers

    known = attempts("lan.nguyen")
    unknown = attempts("khong.co.ai")
    assert known == unknown == ["bad_credentials"] * 4 + ["locked", "locked", "bad_credentials"]
    # Another unknown name has its own count; the locked one stays locked meanwhile.
    assert _refused(accounts, "nguoi.khac", "guess") == "bad_credentials"

    def log(user: str) -> list[tuple[EventKind, str, str]]:
        # The lock's end differs by the 15 minutes the clock moved between the two.
        return [
            (e.event, re.sub(r"until \S+", "until …", e.detail), e.remote)
            for e in reversed(accounts.events())
            if e.id not in before and e.user == user
        ]

    assert log("")[: len(log("lan.nguyen"))] == log("lan.nguyen")
    assert [kind for kind, _, _ in log("lan.nguyen")].count(EventKind.LOCKED) == 1
    # The name typed is kept nowhere (it is often a password typed in the wrong field).
    with accounts.engine.connect() as conn:
        keys = conn.execute(text("SELECT key FROM acc_name_failures")).scalars().all()
    assert len(keys) == 2 and all("khong" not in key for key in keys)


def test_the_default_hasher_is_argon2id_with_its_defaults(engine: Engine) -> None:
    accounts = Accounts(engine)
    accounts.add_user("lan.nguyen", "Lan", "hue", ["clerk"], by=ADMIN)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM acc_users")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert extract_parameters(stored) == extract_parameters(PasswordHasher().hash("x"))


def test_five_failures_lock_the_name_for_fifteen_minutes(accounts: Accounts, clock: Clock) -> None:
    password = _add(accounts)
    assert [_refused(accounts, "lan.nguyen", f"guess-{n:04d}") for n in range(4)] == [
        "bad_credentials"
    ] * 4
    assert _refused(accounts, "lan.nguyen", "guess-0005") == "locked"
    view = accounts.get_user("lan.nguyen")
    assert view is not None and view.locked_until == START + LOCK_FOR
    # Even the right password is refused while the lock holds.
    assert _refused(accounts, "lan.nguyen", password) == "locked"
    clock.advance(minutes=14, seconds=59)
    assert _refused(accounts, "lan.nguyen", password) == "locked"
    clock.advance(seconds=1)
    assert accounts.authenticate("lan.nguyen", password, remote=REMOTE).locked_until is None
    kinds = _kinds(accounts, "lan.nguyen")
    assert kinds.count(EventKind.LOCKED) == 1
    assert kinds[-4:] == [
        EventKind.LOCKED,
        EventKind.LOGIN_FAILED,
        EventKind.LOGIN_FAILED,
        EventKind.LOGIN_OK,
    ]
    [locked] = [e for e in accounts.events(user="lan.nguyen") if e.event is EventKind.LOCKED]
    assert locked.remote == REMOTE and "locked until 2026-12-04T02:15:00+00:00" in locked.detail


def test_a_success_resets_the_count_and_other_names_are_not_locked(accounts: Accounts) -> None:
    password = _add(accounts)
    other = _add(accounts, "minh.tran")
    for _ in range(4):
        _refused(accounts, "lan.nguyen", "wrong password")
    accounts.authenticate("lan.nguyen", password, remote=REMOTE)
    for _ in range(4):
        assert _refused(accounts, "lan.nguyen", "wrong password") == "bad_credentials"
    accounts.authenticate("minh.tran", other, remote=REMOTE)


def test_disabled_is_told_only_to_who_knows_the_password(accounts: Accounts) -> None:
    password = _add(accounts)
    accounts.disable("lan.nguyen", by=ADMIN)
    assert _refused(accounts, "lan.nguyen", "wrong password") == "bad_credentials"
    assert _refused(accounts, "lan.nguyen", password) == "disabled"
    accounts.enable("lan.nguyen", by=ADMIN)
    accounts.authenticate("lan.nguyen", password, remote=REMOTE)
    failed = [
        e.detail
        for e in reversed(accounts.events(user="lan.nguyen"))
        if e.event is EventKind.LOGIN_FAILED
    ]
    assert failed == ["sign-in: wrong password (1 in a row)", "sign-in: disabled"]
    assert EventKind.ENABLED in _kinds(accounts, "lan.nguyen")


# sessions


def test_sessions_each_have_their_own_csrf_token_and_only_a_hash_is_stored(
    accounts: Accounts, engine: Engine
) -> None:
    password = _add(accounts, "lan.nguyen", Role.CLERK, Role.SCHEDULER)
    raw_a, first = accounts.sign_in("lan.nguyen", password, remote=REMOTE)
    raw_b, second = accounts.sign_in("lan.nguyen", password, remote=REMOTE)
    assert raw_a != raw_b and first.csrf_token != second.csrf_token
    assert len(first.csrf_token) >= 43 and first.csrf_token not in (raw_a, raw_b)
    assert first.user == "lan.nguyen" and first.site == "tw-hanoi"
    assert first.roles == frozenset({Role.CLERK, Role.SCHEDULER})
    assert first.expires == START + SESSION_TTL and first.must_change_password
    assert accounts.session(raw_a) == first
    assert accounts.session(raw_b) == second
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM acc_sessions")).all()
    stored = {hashlib.sha256(raw.encode()).hexdigest() for raw in (raw_a, raw_b)}
    assert {row.id for row in rows} == stored
    assert not any(raw in str(tuple(row)) for row in rows for raw in (raw_a, raw_b))


def test_unknown_expired_and_ended_sessions_are_none(accounts: Accounts, clock: Clock) -> None:
    password = _add(accounts)
    raw, _ = accounts.sign_in("lan.nguyen", password, remote=REMOTE)
    assert accounts.session("") is None
    assert accounts.session("no such token") is None
    assert accounts.session("x" * 10_000) is None
    clock.advance(hours=11, minutes=59)
    assert accounts.session(raw) is not None
    clock.advance(minutes=1)
    assert accounts.session(raw) is None
    raw, _ = accounts.sign_in("lan.nguyen", password, remote=REMOTE)
    assert accounts.end_session(raw, remote=REMOTE)
    assert accounts.session(raw) is None
    assert not accounts.end_session(raw)
    assert _kinds(accounts, "lan.nguyen")[-1] is EventKind.LOGOUT
    raws = [accounts.sign_in("lan.nguyen", password, remote=REMOTE)[0] for _ in range(3)]
    assert accounts.end_user_sessions("lan.nguyen") == 3
    assert all(accounts.session(r) is None for r in raws)
    accounts.sign_in("lan.nguyen", password, remote=REMOTE)
    clock.advance(hours=12)
    assert accounts.purge_expired() == 1


def test_last_seen_is_written_at_most_once_a_minute(
    accounts: Accounts, clock: Clock, engine: Engine
) -> None:
    raw, _ = accounts.sign_in("lan.nguyen", _add(accounts), remote=REMOTE)

    def last_seen() -> str:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT last_seen FROM acc_sessions")).scalar_one())

    clock.advance(seconds=30)
    accounts.session(raw)
    assert last_seen().startswith("2026-12-04 02:00:00")
    clock.advance(seconds=30)
    accounts.session(raw)
    assert last_seen().startswith("2026-12-04 02:01:00")


def test_disable_ends_the_users_sessions_at_once(accounts: Accounts, clock: Clock) -> None:
    password = _add(accounts)
    other = _add(accounts, "minh.tran")
    raw, _ = accounts.sign_in("lan.nguyen", password, remote=REMOTE)
    kept, _ = accounts.sign_in("minh.tran", other, remote=REMOTE)
    clock.advance(minutes=5)
    accounts.disable("lan.nguyen", by=ADMIN)
    assert accounts.session(raw) is None
    accounts.enable("lan.nguyen", by=ADMIN)
    assert accounts.session(raw) is None
    assert accounts.session(kept) is not None


def test_reset_ends_sessions_unlocks_and_replaces_the_password(
    accounts: Accounts, clock: Clock
) -> None:
    password = _add(accounts)
    raw, _ = accounts.sign_in("lan.nguyen", password, remote=REMOTE)
    for _ in range(5):
        _refused(accounts, "lan.nguyen", "wrong password")
    clock.advance(minutes=1)
    fresh = accounts.reset_password("lan.nguyen", by=ADMIN)
    assert fresh != password
    assert accounts.session(raw) is None
    assert _refused(accounts, "lan.nguyen", password) == "bad_credentials"
    signed_in = accounts.sign_in("lan.nguyen", fresh, remote=REMOTE)[1]
    assert signed_in.must_change_password
    [reset] = [e for e in accounts.events(user="lan.nguyen") if e.event is EventKind.PASSWORD_RESET]
    assert reset.by == ADMIN


def test_a_session_that_began_before_a_password_change_is_no_longer_valid(
    accounts: Accounts, clock: Clock, engine: Engine
) -> None:
    """Even a session row left behind (another process, a crash) is refused."""
    password = _add(accounts)
    raw, _ = accounts.sign_in("lan.nguyen", password, remote=REMOTE)
    clock.advance(minutes=1)
    with engine.begin() as conn:
        conn.execute(text("UPDATE acc_users SET password_changed_at = '2026-12-04 02:01:00'"))
    assert accounts.session(raw) is None


def test_start_session_refuses_a_user_read_before_a_reset(accounts: Accounts, clock: Clock) -> None:
    password = _add(accounts)
    user = accounts.authenticate("lan.nguyen", password, remote=REMOTE)
    clock.advance(seconds=1)
    accounts.reset_password("lan.nguyen", by=ADMIN)
    with pytest.raises(LoginRefused) as caught:
        accounts.start_session(user)
    assert caught.value.code == "bad_credentials"
    accounts.disable("lan.nguyen", by=ADMIN)
    with pytest.raises(LoginRefused) as caught:
        accounts.start_session(user)
    assert caught.value.code == "disabled"


def test_set_password_checks_the_old_one_and_ends_every_session(
    accounts: Accounts, clock: Clock
) -> None:
    one_time = _add(accounts)
    raw, _ = accounts.sign_in("lan.nguyen", one_time, remote=REMOTE)
    for new, code in (
        ("short", "password_too_short"),
        ("Lan.Nguyen", "password_is_name"),
        ("x" * 1025, "password_too_long"),
        (one_time, "password_unchanged"),
    ):
        with pytest.raises(InvalidAccountInput) as refused:
            accounts.set_password("lan.nguyen", one_time, new)
        assert refused.value.code == code
    with pytest.raises(LoginRefused) as caught:
        accounts.set_password("lan.nguyen", "not the password", "a good new password")
    assert caught.value.code == "bad_credentials"
    clock.advance(seconds=1)
    view = accounts.set_password("lan.nguyen", one_time, "a good new password", remote=REMOTE)
    assert not view.must_change_password and view.password_changed_at == clock.now
    assert accounts.session(raw) is None
    assert _refused(accounts, "lan.nguyen", one_time) == "bad_credentials"
    _, signed_in = accounts.sign_in("lan.nguyen", "a good new password", remote=REMOTE)
    assert not signed_in.must_change_password
    assert EventKind.PASSWORD_CHANGED in _kinds(accounts, "lan.nguyen")


def test_the_last_enabled_administrator_cannot_go(accounts: Accounts) -> None:
    _add(accounts, "quan.tri", Role.ADMINISTRATOR, Role.OPERATOR)
    _add(accounts, "cu.quan.tri", Role.ADMINISTRATOR)
    accounts.disable("cu.quan.tri", by=ADMIN)  # a disabled administrator does not count
    with pytest.raises(LastAdministrator) as caught:
        accounts.disable("quan.tri", by=ADMIN)
    assert caught.value.code == "last_administrator"
    with pytest.raises(LastAdministrator):
        accounts.set_roles("quan.tri", [Role.OPERATOR], by=ADMIN)
    # Other role changes are fine, and so is the change once another one is enabled.
    accounts.set_roles("quan.tri", [Role.ADMINISTRATOR], by=ADMIN)
    view = accounts.get_user("quan.tri")
    assert view is not None and not view.disabled and view.roles == {Role.ADMINISTRATOR}
    accounts.enable("cu.quan.tri", by=ADMIN)
    accounts.set_roles("quan.tri", [Role.OPERATOR], by=ADMIN)
    with pytest.raises(LastAdministrator):
        accounts.disable("cu.quan.tri", by=ADMIN)
    kinds = _kinds(accounts, "cu.quan.tri")
    assert kinds.count(EventKind.DISABLED) == 1


def test_roles_change_applies_to_open_sessions(accounts: Accounts) -> None:
    raw, _ = accounts.sign_in("lan.nguyen", _add(accounts), remote=REMOTE)
    accounts.set_roles("lan.nguyen", ["administrator", "clerk"], by=ADMIN)
    signed_in = accounts.session(raw)
    assert signed_in is not None
    assert signed_in.roles == frozenset({Role.ADMINISTRATOR, Role.CLERK})
    with pytest.raises(InvalidAccountInput):
        accounts.set_roles("lan.nguyen", ["public"], by=ADMIN)
    [changed] = [e for e in accounts.events() if e.event is EventKind.ROLES_CHANGED]
    assert changed.detail == "operator -> administrator, clerk"


# the events log


def test_no_password_or_hash_in_the_events_or_the_logs(
    accounts: Accounts, engine: Engine, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = ["wrong password one", "a good new password"]
    secrets.append(_add(accounts))
    accounts.authenticate("lan.nguyen", secrets[-1], remote=REMOTE)
    _refused(accounts, "lan.nguyen", secrets[0])
    # A password typed in the name field is not kept either.
    _refused(accounts, secrets[0], secrets[0])
    _refused(accounts, "a-password-in-the-name-field", "x")
    accounts.set_password("lan.nguyen", secrets[2], secrets[1])
    secrets.append(accounts.reset_password("lan.nguyen", by=ADMIN))
    for _ in range(5):
        _refused(accounts, "lan.nguyen", secrets[0])
    clock.advance(minutes=15)
    raw, signed_in = accounts.sign_in("lan.nguyen", secrets[-1], remote=REMOTE)
    accounts.end_session(raw)
    with engine.connect() as conn:
        hashes = [conn.execute(text("SELECT password_hash FROM acc_users")).scalar_one()]
        events = " ".join(str(tuple(r)) for r in conn.execute(text("SELECT * FROM acc_events")))
    secrets += ["a-password-in-the-name-field", raw, signed_in.csrf_token]
    for secret in [*secrets, *hashes, "$argon2"]:
        assert secret not in events
        assert secret not in caplog.text
    assert "lan.nguyen" in caplog.text


def test_events_are_append_only(accounts: Accounts, engine: Engine) -> None:
    _add(accounts)
    with Session(engine) as db:
        entry = db.get(AccountEvent, accounts.events()[0].id)
        assert entry is not None
        entry.detail = "rewritten"
        with pytest.raises(AppendOnlyError):
            db.commit()
    with Session(engine) as db:
        entry = db.get(AccountEvent, accounts.events()[0].id)
        db.delete(entry)
        with pytest.raises(AppendOnlyError):
            db.commit()
    for statement in ("UPDATE acc_events SET detail = 'x'", "DELETE FROM acc_events"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert [e.detail for e in accounts.events()] == ["site tw-hanoi; roles operator"]
