"""REST routes for reception rules, sessions, their states, slots and room tokens."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from core.access import Role
from core.sessions import SessionState
from sessions.calendar import local_instant, local_today
from sessions.models import Frequency, HostKind, RuleKind, SessionKind
from sessions.requests import Participant, RuleRequest, SessionRequest, SlotBooking
from sessions.rules import RuleSpec
from signaling.tokens import issue_token
from web.http.auth import require
from web.http.errors import bad, http_error, inconsistent
from web.http.parse import (
    boolean,
    choice,
    clock,
    day,
    day_range,
    days_after,
    enum_value,
    instant,
    integer,
    json_body,
    optional_day,
    optional_text,
    query_day,
    strings,
    text,
)
from web.keys import LIFECYCLE, SECRET, SETTINGS, STORE
from web.schedule.http import (
    STAFF,
    optional_claims,
    refusals,
    run,
    scheduler_scope,
    staff_scope,
)

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

ROOM_TOKEN_LEAD = timedelta(minutes=15)
"""A room may connect this long before its session starts."""

RULE_FREQUENCIES = {
    RuleKind.REGULAR: {Frequency.WORKING_DAYS},
    RuleKind.PERIODIC: {Frequency.WEEKLY, Frequency.MONTHLY},
    RuleKind.SPECIAL: {Frequency.DAILY},
}


def rule_request(body: dict[str, Any]) -> RuleRequest:
    kind = choice(body, "kind", RuleKind)
    default_freq = {RuleKind.REGULAR: Frequency.WORKING_DAYS, RuleKind.SPECIAL: Frequency.DAILY}
    frequency = choice(body, "frequency", Frequency, default_freq.get(kind))
    if frequency not in RULE_FREQUENCIES[kind]:
        allowed = ", ".join(sorted(RULE_FREQUENCIES[kind]))
        raise inconsistent("bad_frequency", f"a {kind} rule's frequency must be {allowed}")
    with refusals():
        spec = RuleSpec(
            frequency=frequency,
            start_time=clock(body.get("start_time"), "start_time"),
            end_time=clock(body.get("end_time"), "end_time"),
            weekday=integer(body, "weekday"),
            month_day=integer(body, "month_day"),
            valid_from=optional_day(body.get("valid_from"), "valid_from"),
            valid_to=optional_day(body.get("valid_to"), "valid_to"),
        )
        return RuleRequest(
            site_id=text(body, "site"),
            title=text(body, "title"),
            kind=kind,
            spec=spec,
            host_kind=choice(body, "host_kind", HostKind, HostKind.STAFF),
            room_id=integer(body, "room_id"),
            participants=strings(body, "participants"),
            officials=strings(body, "officials"),
            slot_minutes=integer(body, "slot_minutes"),
        )


def _participants(body: dict[str, Any]) -> tuple[Participant, ...]:
    raw = body.get("participants", [])
    if not isinstance(raw, list):
        raise bad("bad_field", "participants must be a list")
    out = []
    for item in raw:
        if isinstance(item, str):
            out.append(Participant(item))
        elif isinstance(item, dict) and isinstance(item.get("site"), str):
            out.append(Participant(item["site"], integer(item, "room_id")))
        else:
            raise bad("bad_field", "each participant is a site id or {site, room_id}")
    host = text(body, "host_site")
    host_room = integer(body, "host_room_id")
    if host_room is not None:
        if any(p.site_id == host for p in out):
            raise inconsistent(
                "duplicate_site", "give the host's room either in participants or host_room_id"
            )
        out.append(Participant(host, host_room))
    return tuple(out)


def session_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of a :class:`SessionRequest` read from a booking's body (400 if one is
    malformed; whether they are consistent is the request's own check)."""
    tz_name = optional_text(body, "time_zone")
    return {
        "starts_at": instant(body.get("starts_at"), "starts_at", tz_name),
        "ends_at": instant(body.get("ends_at"), "ends_at", tz_name),
        "title": text(body, "title"),
        "host_site_id": text(body, "host_site"),
        "participants": _participants(body),
        "kind": choice(body, "kind", SessionKind, SessionKind.AD_HOC),
        "host_kind": choice(body, "host_kind", HostKind, HostKind.HEAD),
        "officials": strings(body, "officials"),
        "agenda": text(body, "agenda", required=False),
        "allow_day_off": boolean(body, "allow_day_off"),
        "slot_minutes": integer(body, "slot_minutes"),
        "record": boolean(body, "record", True),
    }


def session_request(body: dict[str, Any]) -> SessionRequest:
    fields = session_fields(body)
    with refusals():
        return SessionRequest(**fields)


@routes.get("/api/rules")
async def list_rules(request: web.Request) -> web.Response:
    _, scope = await scheduler_scope(request)
    rules = await run(request.app[STORE].list_rules, scope)
    return web.json_response({"rules": [r.as_dict() for r in rules]})


@routes.post("/api/rules")
async def add_rule(request: web.Request) -> web.Response:
    _, scope = await scheduler_scope(request)
    req = rule_request(await json_body(request))
    rule = await run(request.app[STORE].add_rule, req, scope)
    return web.json_response(rule.as_dict(), status=201)


MAX_RULE_ID = 2**31 - 1
"""The largest rule id the database stores (a larger one names no rule)."""


@routes.delete("/api/rules/{rule_id}")
async def delete_rule(request: web.Request) -> web.Response:
    _, scope = await scheduler_scope(request)
    raw = request.match_info["rule_id"]
    if not raw.isascii() or not raw.isdigit():
        raise bad("bad_rule_id", f"rule id must be a number: {raw!r}")
    if len(raw) > 12 or int(raw) > MAX_RULE_ID:
        # Beyond the database's integer: no such rule (SQLite would overflow, a 500).
        raise http_error(404, "unknown_rule", f"rule {raw} does not exist")
    await run(request.app[STORE].delete_rule, int(raw), scope)
    return web.json_response({"deleted": int(raw)})


@routes.post("/api/schedule/generate")
async def generate(request: web.Request) -> web.Response:
    """Write the sessions the rules give from ``from`` to ``to`` (idempotent).

    Always 200 with the report (created, existing, skipped): the answer is an account of
    an idempotent action over a range, not one new resource with a Location, and a
    status that changed with the data (201 only when something was written) would make
    clients read the count twice; ``created`` says it."""
    _, scope = await scheduler_scope(request)
    body = await json_body(request)
    report = await run(
        request.app[STORE].generate,
        day(body.get("from"), "from"),
        day(body.get("to"), "to"),
        scope,
        site_id=optional_text(body, "site"),
        skip_conflicts=boolean(body, "skip_conflicts"),
    )
    return web.json_response(report.as_dict())


@routes.get("/api/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    """Public: sessions from ``from`` to ``to`` (local dates), of a site and its subtree."""
    store = request.app[STORE]
    today = local_today()
    start = query_day(request, "from", today)
    end = query_day(request, "to", days_after(start, 14))
    day_range(start, end, max_days=400)
    site_ids = None
    if "site" in request.query:
        site_id = request.query["site"]
        if await run(store.get_site, site_id) is None:
            raise http_error(404, "unknown_site", f"site {site_id} does not exist")
        site_ids = await run(store.subtree, site_id)
    states = None
    if "state" in request.query:
        states = frozenset(
            enum_value(s, "state", SessionState) for s in request.query.getall("state")
        )
    sessions = await run(
        store.list_sessions,
        local_instant(start, datetime.min.time()),
        local_instant(end + timedelta(days=1), datetime.min.time()),
        site_ids=site_ids,
        states=states,
    )
    return web.json_response({"sessions": [s.as_dict(public=True) for s in sessions]})


@routes.post("/api/sessions")
async def book_session(request: web.Request) -> web.Response:
    """Book a session ad hoc; every check passes or nothing is written."""
    _, scope = await scheduler_scope(request)
    req = session_request(await json_body(request))
    view = await run(request.app[STORE].book, req, scope)
    return web.json_response(view.as_dict(), status=201)


@routes.post("/api/sessions/check")
async def check_session(request: web.Request) -> web.Response:
    """A dry run of ``POST /api/sessions`` (same body, same roles): 200 with every reason
    the booking would be refused, nothing written. Malformed input is still a 400."""
    _, scope = await scheduler_scope(request)
    fields = session_fields(await json_body(request))
    check = await run(request.app[STORE].check, SessionRequest.draft(**fields), scope)
    return web.json_response(check.as_dict())


@routes.get("/api/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    """Public view; staff tokens also see who booked the slots."""
    claims = optional_claims(request)
    session_id = request.match_info["session_id"]
    view = await run(request.app[STORE].get_session, session_id)
    if view is None:
        raise http_error(404, "unknown_session", f"session {session_id} does not exist")
    public = claims is None or claims.role not in STAFF
    return web.json_response(view.as_dict(public=public))


async def _change_state(request: web.Request, state: SessionState) -> web.Response:
    """Open, close or cancel through the session lifecycle (the one path for all three)."""
    claims, scope = await staff_scope(request)
    if state is SessionState.CANCELLED and claims.role is Role.OPERATOR:
        raise http_error(
            403, "forbidden_role", "operators open and close sessions; cancelling is for schedulers"
        )
    body = await json_body(request) if request.can_read_body else {}
    note = text(body, "reason", required=False)
    session_id = request.match_info["session_id"]
    lifecycle = request.app[LIFECYCLE]
    by = claims.subject or f"{claims.role}@{claims.site}"
    with refusals():
        if state is SessionState.OPEN:
            view = await lifecycle.open(session_id, scope=scope, note=note, by=by)
        elif state is SessionState.CANCELLED:
            view = await lifecycle.cancel(session_id, scope=scope, note=note, by=by)
        else:
            view = await lifecycle.close(session_id, scope=scope, note=note, by=by)
    return web.json_response(view.as_dict())


@routes.post("/api/sessions/{session_id}/open")
async def open_session(request: web.Request) -> web.Response:
    return await _change_state(request, SessionState.OPEN)


@routes.post("/api/sessions/{session_id}/close")
async def close_session(request: web.Request) -> web.Response:
    return await _change_state(request, SessionState.CLOSED)


@routes.post("/api/sessions/{session_id}/cancel")
async def cancel_session(request: web.Request) -> web.Response:
    return await _change_state(request, SessionState.CANCELLED)


@routes.post("/api/sessions/{session_id}/slots/{slot_id}/booking")
async def book_slot(request: web.Request) -> web.Response:
    """Book a citizen (or delegation) into a slot; the name stays confidential."""
    _, scope = await staff_scope(request)
    raw = request.match_info["slot_id"]
    if not raw.isdigit():
        raise bad("bad_slot_id", f"slot id must be a number: {raw!r}")
    body = await json_body(request)
    with refusals():
        booking = SlotBooking(
            citizen_name=text(body, "citizen_name"),
            case_kind=text(body, "case_kind"),
            case_ref=text(body, "case_ref", required=False),
            people_count=integer(body, "people_count") or 1,
        )
    view = await run(
        request.app[STORE].book_slot, request.match_info["session_id"], int(raw), booking, scope
    )
    return web.json_response(view.as_dict(), status=201)


@routes.post("/api/sessions/{session_id}/room-token")
async def room_token(request: web.Request) -> web.Response:
    """A media-path token for a site booked into the session.

    Valid from 15 minutes before the start to the end. Administrators, schedulers of
    the site's province, operators of the host site, and the site's own room may ask.
    """
    claims = require(request, (*STAFF, Role.ROOM))
    body = await json_body(request)
    site_id = text(body, "site")
    session_id = request.match_info["session_id"]
    store = request.app[STORE]
    view = await run(store.get_session, session_id)
    if view is None:
        raise http_error(404, "unknown_session", f"session {session_id} does not exist")
    if site_id not in view.site_ids:
        raise http_error(
            422, "site_not_booked", f"site {site_id} takes no part in session {session_id}"
        )
    if claims.role is Role.SCHEDULER:
        scope = await run(store.scope_for, claims.site)
        if scope is not None and site_id not in scope:
            raise http_error(403, "outside_scope", f"site {site_id} is outside your province")
    elif claims.role is Role.OPERATOR and claims.site != view.host_site_id:
        raise http_error(403, "not_host", f"only operators of {view.host_site_id} may do this")
    elif claims.role is Role.ROOM and (
        claims.site != site_id or claims.session not in (None, session_id)
    ):
        raise http_error(403, "other_room", "a room may only ask for its own site's token")
    if view.state in (SessionState.CLOSED, SessionState.CANCELLED):
        raise http_error(409, "session_over", f"session {session_id} is {view.state}")
    now = datetime.now(UTC)
    if view.ends_at <= now:
        raise http_error(409, "session_over", f"session {session_id} has ended")
    not_before = view.starts_at - ROOM_TOKEN_LEAD
    token = issue_token(
        request.app[SECRET],
        role=Role.ROOM,
        site=site_id,
        session=session_id,
        subject=f"room@{site_id}",
        not_before=not_before,
        expires=view.ends_at,
    )
    base = request.app[SETTINGS].base_url
    return web.json_response(
        {
            "token": token,
            "site": site_id,
            "session": session_id,
            "not_before": not_before.isoformat(),
            "expires": view.ends_at.isoformat(),
            "room_url": f"{base}/room?token={token}",
        },
        status=201,
    )
