"""Short-lived tokens minted from a signed-in session, for the pages and the media path.

A signed-in person never handles a token: the pages ask for one (or the server sends
them on with one), limited to the person's roles and site, to a session they take part
in for media, and to the sign-in session's own end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from aiohttp import web

from accounts.values import SignedIn
from core.access import Role
from signaling.tokens import issue_token
from web.http.auth import signed_in, token_from_request
from web.http.errors import http_error
from web.keys import DIRECTORY, SECRET

MEDIA_ROLES = (Role.ROOM, Role.OPERATOR)
ROOM_LEAD = timedelta(minutes=15)
"""A room's token is valid from this long before its session starts."""
LONGEST = timedelta(hours=12)
"""No minted token outlives this, nor the sign-in session."""
AFTER_END = timedelta(hours=1)
"""A media token stays valid this long past the session's scheduled end (it may run late)."""


async def mint(
    request: web.Request, person: SignedIn, role: Role, session_id: str | None
) -> tuple[str, datetime]:
    """A token for ``person`` acting as ``role`` (in ``session_id`` for media), and when it
    expires; or 400/403/404."""
    if role not in person.roles:
        raise http_error(403, "forbidden_role", f"you do not hold the role {role}")
    now = datetime.now(UTC)
    expires = min(person.expires, now + LONGEST)
    not_before = now
    if role in MEDIA_ROLES:
        if not session_id:
            raise http_error(400, "missing_field", "session is required for a media token")
        info = await request.app[DIRECTORY].session(session_id)
        if info is None or person.site not in info.sites:
            raise http_error(404, "unknown_session", f"no session {session_id} of your site")
        if role is Role.OPERATOR and person.site != info.host_site:
            raise http_error(403, "forbidden_role", "only the host site's operators run it")
        if role is Role.ROOM:
            not_before = min(now, info.starts_at - ROOM_LEAD)
        expires = min(expires, max(info.ends_at + AFTER_END, now + timedelta(minutes=5)))
    elif session_id:
        raise http_error(400, "bad_field", f"a {role} token names no session")
    token = issue_token(
        request.app[SECRET],
        role=role,
        site=person.site,
        session=session_id if role in MEDIA_ROLES else None,
        subject=person.user,
        not_before=not_before,
        expires=expires,
    )
    return token, expires


async def page_token(request: web.Request, roles: Sequence[Role]) -> None:
    """A page that takes ``?token=``: let a token through; send a signed-in person on
    to the same page with a token minted for the first of ``roles`` they hold (a media
    page names its session in ``?session=``); send anyone else to the sign-in page."""
    if token_from_request(request) is not None:
        return
    person = signed_in(request)
    if person is None:
        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
    role = next((r for r in roles if r in person.roles), None)
    if role is None:
        raise http_error(403, "forbidden_role", "your roles do not open this page")
    session = request.query.get("session") if role in MEDIA_ROLES else None
    token, _ = await mint(request, person, role, session)
    query = {k: v for k, v in request.query.items() if k != "session"}
    query["token"] = token
    raise web.HTTPSeeOther(f"{request.path}?{urlencode(query)}")
