"""``reception-bridge user ...``: add, list, disable, enable, reset-password on SQLite.

Calls :func:`web.cli.main` in-process with the real argon2 defaults. A one-time
password is printed once on standard output and nowhere else.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from accounts.errors import LoginRefused
from accounts.service import Accounts
from core.db import make_engine
from web.cli import main

OTP = re.compile(r"one-time password \(shown once[^)]*\): (\S+)")


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.delenv("RB_CONFIG", raising=False)
    monkeypatch.setenv("RB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["load-sites"]) == 0
    return url


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _password(out: str) -> str:
    found: list[str] = OTP.findall(out)
    assert len(found) == 1, out
    return found[0]


def _refused(url: str, name: str, password: str) -> str:
    engine = make_engine(url)
    try:
        Accounts(engine).authenticate(name, password, remote="cli-test")
    except LoginRefused as exc:
        return exc.code
    finally:
        engine.dispose()
    return "ok"


def test_user_commands(
    database: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    capsys.readouterr()
    code, out, err = _run(
        capsys,
        *("user", "add", "lan.nguyen", "--site", "tw-hanoi"),
        *("--role", "operator", "--role", "clerk", "--display-name", "Nguyễn Thị Lan"),
    )
    assert code == 0, err
    first = _password(out)
    assert out.count(first) == 1 and first not in err and first not in caplog.text
    assert "user lan.nguyen added at tw-hanoi (clerk, operator)" in out
    assert _refused(database, "lan.nguyen", first) == "ok"

    code, _out, err = _run(capsys, "user", "add", "minh", "--site", "atlantis", "--role", "clerk")
    assert (code, err.strip()) == (
        1,
        "refused (unknown_site): no site 'atlantis' in the site tree",
    )
    code, _out, err = _run(capsys, "user", "add", "lan.nguyen", "--site", "hue", "--role", "room")
    assert code == 1 and "refused (user_exists)" in err
    code, _out, err = _run(capsys, "user", "add", "Bad Name", "--site", "hue", "--role", "room")
    assert code == 1 and "refused (bad_user_name)" in err
    with pytest.raises(SystemExit):
        main(["user", "add", "minh", "--site", "hue", "--role", "public"])
    with pytest.raises(SystemExit):
        main(["user", "add", "minh", "--site", "hue"])
    capsys.readouterr()

    code, out, _err = _run(capsys, "user", "add", "minh.tran", "--site", "hue", "--role", "room")
    assert code == 0
    code, out, _err = _run(capsys, "user", "list")
    assert out.splitlines() == [
        "lan.nguyen\ttw-hanoi\tclerk,operator\tone-time password\tNguyễn Thị Lan",
        "minh.tran\thue\troom\tone-time password\tminh.tran",
    ]
    code, out, _err = _run(capsys, "user", "list", "--site", "hue")
    assert [line.split("\t")[0] for line in out.splitlines()] == ["minh.tran"]

    code, out, _err = _run(capsys, "user", "reset-password", "lan.nguyen")
    second = _password(out)
    assert code == 0 and second != first and second not in caplog.text
    assert _refused(database, "lan.nguyen", first) == "bad_credentials"
    assert _refused(database, "lan.nguyen", second) == "ok"

    assert _run(capsys, "user", "disable", "lan.nguyen")[0] == 0
    assert "\tdisabled\t" in _run(capsys, "user", "list")[1]
    assert _refused(database, "lan.nguyen", second) == "disabled"
    assert _run(capsys, "user", "enable", "lan.nguyen")[0] == 0
    assert _refused(database, "lan.nguyen", second) == "ok"
    code, _out, err = _run(capsys, "user", "disable", "nobody")
    assert code == 1 and "refused (unknown_user)" in err

    engine = make_engine(database)
    try:
        events = Accounts(engine).events(user="lan.nguyen")
    finally:
        engine.dispose()
    admin_events = {e.event: e.by for e in events if e.by.startswith("cli")}
    assert set(admin_events) == {"user_added", "password_reset", "disabled", "enabled"}
