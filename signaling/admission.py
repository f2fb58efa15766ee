"""Who may join a session's media: a verified token checked against the directory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.access import Claims, Role, TokenError
from core.sessions import Directory, SessionInfo, SessionState, SiteInfo
from signaling.tokens import verify_token

MEDIA_ROLES = (Role.ROOM, Role.OPERATOR)


class AdmissionError(Exception):
    """A connection refused; ``code`` is one of PROTOCOL.md's connect codes."""

    def __init__(self, code: str, message: str, not_before: datetime | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.not_before = not_before

    def as_dict(self) -> dict[str, str]:
        """The ``{code, message}`` object the client receives, and ``not_before`` (ISO
        8601, UTC) with ``token_not_yet_valid``: the page counts down and joins then."""
        out = {"code": self.code, "message": self.message}
        if self.not_before is not None:
            out["not_before"] = self.not_before.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted connection: the token's claims, its session and site."""

    claims: Claims
    """The verified token."""
    session: SessionInfo
    """The session joined."""
    site: SiteInfo
    """The site the endpoint speaks for."""


async def admit(secret: str, directory: Directory, token: str | None) -> Admission:
    """Check ``token`` and the session it names; raise :class:`AdmissionError`."""
    try:
        claims = verify_token(secret, token)
    except TokenError as exc:
        raise AdmissionError(exc.code, exc.message, exc.not_before) from None
    if claims.role not in MEDIA_ROLES:
        raise AdmissionError("forbidden_role", f"role {claims.role} cannot join media")
    if not claims.session:
        raise AdmissionError("unknown_session", "token names no session")
    session = await directory.session(claims.session)
    if session is None:
        raise AdmissionError("unknown_session", f"no session {claims.session}")
    if session.state in (SessionState.CLOSED, SessionState.CANCELLED):
        raise AdmissionError("session_closed", f"session {session.id} is {session.state}")
    if claims.role is Role.OPERATOR and claims.site != session.host_site:
        raise AdmissionError(
            "forbidden_role", f"only the host site {session.host_site} has operators"
        )
    if claims.site not in session.sites:
        raise AdmissionError(
            "site_not_in_session", f"site {claims.site} does not take part in {session.id}"
        )
    site = session.site_names.get(claims.site) or await directory.site(claims.site)
    return Admission(claims, session, site or SiteInfo(id=claims.site, name=claims.site))
