"""The link credential of a cascade: it opens ``/cascade`` and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.access import Role, TokenError
from signaling.cascade import LinkRefused, issue_link_token, verify_link_token
from signaling.tokens import issue_token, verify_token

SECRET = "cascade-unit-secret-cascade-unit-secret"


def test_a_link_credential_names_its_session_and_node() -> None:
    token = issue_link_token(SECRET, "s-1", "node-b")
    assert verify_link_token(SECRET, token) == ("s-1", "node-b")


def test_a_user_token_does_not_open_a_link() -> None:
    for role in Role:
        token = issue_token(SECRET, role=role, site="tw-hanoi", session="s-1")
        with pytest.raises(LinkRefused) as refused:
            verify_link_token(SECRET, token)
        assert refused.value.code == "forbidden_role"


def test_a_link_credential_opens_no_user_route() -> None:
    with pytest.raises(TokenError) as refused:
        verify_token(SECRET, issue_link_token(SECRET, "s-1", "node-b"))
    assert refused.value.code == "token_invalid"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "token_missing"),
        ("", "token_missing"),
        (42, "token_invalid"),
        ("x" * 5000, "token_invalid"),
        ("not.a.jwt", "token_invalid"),
        (issue_link_token("another-secret-another-secret-xx", "s-1", "b"), "token_invalid"),
        (
            issue_link_token(SECRET, "s-1", "b", now=datetime.now(UTC) - timedelta(hours=1)),
            "token_expired",
        ),
    ],
)
def test_bad_link_credentials_are_refused_with_a_code(token: object, code: str) -> None:
    with pytest.raises(LinkRefused) as refused:
        verify_link_token(SECRET, token)
    assert refused.value.code == code
