from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings
from core.access import Role, TokenError
from signaling.tokens import issue_token, verify_token

SECRET = "test-secret-test-secret-test-secret"


def test_defaults() -> None:
    s = load_settings({})
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.redis_url is None
    assert s.forwarding == "packet"
    assert load_settings({"RB_FORWARDING": "frame"}).forwarding == "frame"


def test_env_overrides_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "rb.toml"
    cfg.write_text('port = 9000\nhost = "0.0.0.0"\nice_servers = ["stun:stun.example:3478"]\n')
    s = load_settings({"RB_CONFIG": str(cfg), "RB_PORT": "9100"})
    assert s.port == 9100
    assert s.host == "0.0.0.0"
    assert s.ice_servers[0].as_client_dict() == {"urls": ["stun:stun.example:3478"]}


@pytest.mark.parametrize(
    "env",
    [
        {"RB_PORT": "abc"},
        {"RB_PORT": "70000"},
        {"RB_ICE_SERVERS": "[1]"},
        {"RB_ICE_SERVERS": "{"},
        {"RB_ICE_SERVERS": '["http://x"]'},
        {"RB_RECORD_ON_OPEN": "maybe"},
        {"RB_FORWARDING": "packets"},
    ],
)
def test_bad_settings_are_named(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(env)


def test_unknown_toml_key(tmp_path: Path) -> None:
    cfg = tmp_path / "rb.toml"
    cfg.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings({}, cfg)


def test_secret_is_kept_in_data_dir(tmp_path: Path) -> None:
    s = load_settings({"RB_DATA_DIR": str(tmp_path)})
    assert s.signing_secret() == s.signing_secret()
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_token_round_trip() -> None:
    token = issue_token(SECRET, role=Role.ROOM, site="bac-ninh", session="s1")
    claims = verify_token(SECRET, token)
    assert (claims.role, claims.site, claims.session) == (Role.ROOM, "bac-ninh", "s1")


def test_token_refusals() -> None:
    now = datetime.now(UTC)
    expired = issue_token(
        SECRET,
        role=Role.ROOM,
        site="x",
        not_before=now - timedelta(hours=2),
        expires=now - timedelta(hours=1),
    )
    future = issue_token(SECRET, role=Role.ROOM, site="x", not_before=now + timedelta(hours=1))
    forged = issue_token("another-secret-another-secret-xx", role=Role.OPERATOR, site="x")
    cases = {
        None: "token_missing",
        "": "token_missing",
        "garbage": "token_invalid",
        expired: "token_expired",
        future: "token_not_yet_valid",
        forged: "token_invalid",
    }
    for token, code in cases.items():
        with pytest.raises(TokenError) as info:
            verify_token(SECRET, token)
        assert info.value.code == code


async def test_too_early_says_when() -> None:
    """token_not_yet_valid carries the moment the token becomes valid, up to the client's
    connect_error data (the room page counts down to it)."""
    from core.sessions import MemoryDirectory
    from signaling.admission import AdmissionError, admit

    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=15)
    future = issue_token(SECRET, role=Role.ROOM, site="x", session="s1", not_before=opens)
    with pytest.raises(TokenError) as info:
        verify_token(SECRET, future)
    assert info.value.not_before == opens
    with pytest.raises(AdmissionError) as refused:
        await admit(SECRET, MemoryDirectory([], []), future)
    assert refused.value.as_dict() == {
        "code": "token_not_yet_valid",
        "message": f"token is valid from {opens.isoformat()}",
        "not_before": opens.isoformat(),
    }
    with pytest.raises(AdmissionError) as other:
        await admit(SECRET, MemoryDirectory([], []), "garbage")
    assert set(other.value.as_dict()) == {"code", "message"}
