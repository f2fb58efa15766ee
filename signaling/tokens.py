"""Signed access tokens: who (role), where (site) and, for the media path, which session.

Tokens are HS256 JWTs signed with the server's secret. The same tokens authorise REST
routes (``Authorization: Bearer`` or ``?token=``) and Socket.IO connections.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from core.access import Claims, Role, TokenError
from core.ids import SessionId, SiteId

ALGORITHM = "HS256"
ISSUER = "reception-bridge"


def issue_token(
    secret: str,
    *,
    role: Role,
    site: str,
    session: str | None = None,
    subject: str = "",
    not_before: datetime | None = None,
    expires: datetime | None = None,
    ttl: timedelta = timedelta(days=1),
    now: datetime | None = None,
) -> str:
    """Sign a token; validity defaults to ``now`` until ``now + ttl``."""
    start = not_before or now or datetime.now(UTC)
    end = expires or (start + ttl)
    claims = Claims(
        role,
        SiteId(site),
        SessionId(session) if session is not None else None,
        start,
        end,
        subject,
        uuid.uuid4().hex,
    )
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "role": str(claims.role),
        "site": claims.site,
        "sub": claims.subject,
        "jti": claims.token_id,
        "nbf": int(start.timestamp()),
        "exp": int(end.timestamp()),
    }
    if session is not None:
        payload["session"] = session
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: object, *, now: datetime | None = None) -> Claims:
    """Check signature and validity window; raise :class:`TokenError` with a clear code."""
    if not token:
        raise TokenError("token_missing", "no token was given")
    if not isinstance(token, str):
        raise TokenError("token_invalid", "a token is a string")
    if len(token) > 4096:
        raise TokenError("token_invalid", "token is too long")
    moment = now or datetime.now(UTC)
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"verify_exp": False, "verify_nbf": False, "require": ["exp", "nbf"]},
        )
    except jwt.InvalidSignatureError:
        raise TokenError("token_invalid", "token signature does not match") from None
    except jwt.PyJWTError as exc:
        raise TokenError("token_invalid", f"token is malformed: {exc}") from None
    try:
        role = Role(payload["role"])
        site = str(payload["site"])
        not_before = datetime.fromtimestamp(int(payload["nbf"]), UTC)
        expires = datetime.fromtimestamp(int(payload["exp"]), UTC)
    except (KeyError, ValueError, TypeError) as exc:
        raise TokenError("token_invalid", f"token claims are malformed: {exc}") from None
    if moment >= expires:
        raise TokenError("token_expired", f"token expired at {expires.isoformat()}")
    if moment < not_before:
        raise TokenError(
            "token_not_yet_valid", f"token is valid from {not_before.isoformat()}", not_before
        )
    session = payload.get("session")
    return Claims(
        role=role,
        site=SiteId(site),
        session=SessionId(str(session)) if session is not None else None,
        not_before=not_before,
        expires=expires,
        subject=str(payload.get("sub", "")),
        token_id=str(payload.get("jti", "")),
    )
