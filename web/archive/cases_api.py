"""Archive routes for cases, markers, the audit log and integrity checks."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from core.cases import MAX_MARKER_TEXT
from recorder import access
from recorder.archive import ArchiveError, CaseInput, Person
from recorder.audit import AuditResult
from recorder.integrity import verify_all
from recorder.models import CaseKind, Outcome, RefusalReason
from recorder.service import RECORDINGS
from web.archive.api import archive_claims, reason_param
from web.archive.audit import Attempt, audited, name_param
from web.archive.keys import ARCHIVE, RECORDER
from web.http.errors import bad, http_error, refused
from web.http.parse import (
    case_number,
    integer,
    json_body,
    optional_enum,
    query_integer,
    strings,
    text,
)
from web.keys import RELAY

CASE_WRITERS = frozenset({"clerk", "administrator", "operator"})
MARKERS = frozenset({"operator", "administrator"})

routes = web.RouteTableDef()


def _http(exc: ArchiveError) -> web.HTTPException:
    """The archive's refusal as HTTP, by the one mapping of :mod:`web.http.errors`."""
    return refused(exc)


def _case_number(raw: Any) -> str:
    return case_number(raw)


def _people(body: dict[str, Any], key: str) -> tuple[Person, ...]:
    raw = body.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise bad("bad_field", f"{key} must be a list of objects")
    return tuple(
        Person(
            text(p, "name"),
            text(p, "address", required=False),
            text(p, "id_number", required=False),
        )
        for p in raw
    )


def _strings(body: dict[str, Any], key: str) -> tuple[str, ...]:
    return tuple(s[:200] for s in strings(body, key))


@routes.post("/api/archive/cases")
@audited("create_case")
async def create_case(request: web.Request, attempt: Attempt) -> web.Response:
    """Record a case (clerks, administrators, operators of one of its sites).

    A case an operator's marker opened (pending) is completed; a recorded one is 409.
    """
    claims = attempt.authenticate(request)
    if str(claims.role) not in CASE_WRITERS:
        raise http_error(
            403, "forbidden_role", "cases are recorded by clerks, operators, administrators"
        )
    body = await json_body(request)
    number = _case_number(body.get("number", ""))
    attempt.target = f"case:{number}"
    people_count = integer(body, "people_count")
    try:
        case = CaseInput(
            number=number,
            kind=optional_enum(body.get("kind"), "kind", CaseKind) or CaseKind.COMPLAINT,
            sites=_strings(body, "sites"),
            summary=text(body, "summary", required=False)[:4000],
            people_count=1 if people_count is None else people_count,
            persons_received=_people(body, "persons_received"),
            denouncers=_people(body, "denouncers"),
            officials=_strings(body, "officials"),
            outcome=optional_enum(body.get("outcome"), "outcome", Outcome),
            refusal_reason=optional_enum(
                body.get("refusal_reason"), "refusal_reason", RefusalReason
            ),
        )
    except ArchiveError as exc:
        raise _http(exc) from None
    attempt.sites = list(case.sites)
    if claims.site not in case.sites:
        raise http_error(403, "forbidden_site", "record cases of your own site only")
    attempt.detail = f"{len(case.denouncers)} denouncers stored apart" if case.denouncers else ""
    try:
        view = await asyncio.to_thread(
            request.app[ARCHIVE].archive.create_case,
            case,
            by=attempt.actor.name,
            site=claims.site,
        )
    except ArchiveError as exc:
        raise _http(exc) from None
    return web.json_response(view.as_dict(), status=201)


@routes.get("/api/archive/cases/{number:.+}")
@audited("view_case")
async def case_detail(request: web.Request, attempt: Attempt) -> web.Response:
    """A case; its denouncers only for administrators of one of its sites (audited apart)."""
    claims = archive_claims(request, attempt)
    number = _case_number(request.match_info["number"])
    attempt.target = f"case:{number}"
    archive = request.app[ARCHIVE].archive
    case = await asyncio.to_thread(archive.case, number)
    sites = await asyncio.to_thread(archive.case_sites_with_sessions, number)
    attempt.sites = sites
    if case is None or not access.may_see(str(claims.role), claims.site, sites):
        if case is not None:
            attempt.detail, attempt.result = "other_site", AuditResult.DENIED
        raise http_error(404, "unknown_case", f"no case {number} that your site may see")
    body = case.as_dict()
    if case.has_denouncer and access.may_see_denouncer(str(claims.role), claims.site, case.sites):
        attempt.action = "view_case_denouncer"
        attempt.reason = str(request.query.get("reason", ""))[:1000]
        people = await asyncio.to_thread(archive.denouncers, number)
        body["denouncers"] = [
            {"name": p.name, "address": p.address, "id_number": p.id_number} for p in people
        ]
    return web.json_response(body)


@routes.post("/api/archive/sessions/{session}/markers")
@audited("add_marker")
async def add_marker(request: web.Request, attempt: Attempt) -> web.Response:
    """Mark the case now being discussed (operators and administrators of the host site)."""
    claims = attempt.authenticate(request)
    session_id = name_param(request, "session")
    attempt.target = f"session:{session_id}"
    if str(claims.role) not in MARKERS:
        raise http_error(403, "forbidden_role", "cases are marked by operators")
    body = await json_body(request)
    number = _case_number(body.get("case_number", ""))
    attempt.target += f" case:{number}"
    archive = request.app[ARCHIVE].archive
    recording = await asyncio.to_thread(archive.recording, session_id)
    if recording is None or recording.host_site != claims.site:
        raise http_error(404, "not_found", f"no recording of session {session_id} run by your site")
    attempt.sites = recording.sites
    try:
        # The same path as the console's: the recorder archives it and puts it on the
        # live session's board, so connected consoles show it at once.
        relay = request.app.get(RELAY)
        marker = await request.app[RECORDER].add_marker(
            session_id,
            number,
            str(body.get("text", ""))[:MAX_MARKER_TEXT],
            by=attempt.actor.name,
            board=relay.hubs.get(session_id) if relay is not None else None,
        )
    except ArchiveError as exc:
        raise _http(exc) from None
    return web.json_response(marker.as_dict(), status=201)


@routes.get("/api/archive/audit")
@audited("read_audit")
async def audit_log(request: web.Request, attempt: Attempt) -> web.Response:
    """The audit lines by or about the administrator's site, newest first."""
    claims = attempt.authenticate(request)
    attempt.target = "audit"
    if not access.may_read_audit(str(claims.role)):
        raise http_error(403, "forbidden_role", "the audit log is for administrators")
    action = request.query.get("action") or None
    limit = query_integer(request, "limit", 200)
    entries = await asyncio.to_thread(
        request.app[ARCHIVE].audit.entries, site=claims.site, action=action, limit=limit
    )
    return web.json_response(
        {
            "entries": [
                {
                    "id": e.id,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "role": e.role,
                    "actor_site": e.actor_site,
                    "action": e.action,
                    "target": e.target,
                    "reason": e.reason,
                    "result": e.result,
                    "detail": e.detail,
                }
                for e in entries
            ]
        }
    )


@routes.post("/api/archive/verify")
@audited("verify")
async def verify(request: web.Request, attempt: Attempt) -> web.Response:
    """Recompute every file's SHA-256 against its manifest (administrators)."""
    claims = attempt.authenticate(request)
    attempt.target = "verify"
    if not access.may_read_audit(str(claims.role)):
        raise http_error(403, "forbidden_role", "verification is for administrators")
    attempt.reason = (
        reason_param((await json_body(request)).get("reason"), required=False)
        if request.can_read_body
        else ""
    )
    services = request.app[ARCHIVE]
    checked, problems = await services.runner.run(verify_all, services.storage.root / RECORDINGS)
    attempt.detail = f"{checked} files, {len(problems)} problems"
    return web.json_response(
        {
            "checked": checked,
            "problems": [
                {"recording": p.session_id, "file": p.file, "problem": p.problem} for p in problems
            ],
        }
    )
