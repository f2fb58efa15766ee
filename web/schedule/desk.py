"""The scheduler's desk (``GET /desk``): the week and month of sessions, the booking form
with its dry run, rules and special periods (``static/schedule_desk/``).

The desk works on the signed-in session (its cookie and CSRF token), never on a token in
the address: without a sign-in it sends to the sign-in page and back; a person holding
neither the scheduler's nor the administrator's role is refused.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from core.access import Role
from web.http.auth import signed_in
from web.http.errors import http_error
from web.http.static import page

routes = web.RouteTableDef()

DESK_ROLES = frozenset({Role.SCHEDULER, Role.ADMINISTRATOR})


@routes.get("/desk")
async def desk(request: web.Request) -> web.FileResponse:
    person = signed_in(request)
    if person is None:
        raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
    if not DESK_ROLES & person.roles:
        raise http_error(403, "forbidden_role", "the desk is for schedulers and administrators")
    return page("schedule_desk/desk.html")
