"""Routes of the reception book, the watch list and the reports (issue 11).

Who may do what (decided here):

- Write an entry: clerks and operators for their own site, administrators for any site
  they oversee. Edits add a version (``expect_version`` refuses a stale one, 409).
- Read entries and the watch list: clerks, operators and administrators, within their
  province (the central office: everywhere). An entry out of scope is 404.
- A denouncer's identity (an entry of kind ``denunciation``): administrators of the
  entry's site only; everyone else reads ``(bảo mật)`` in lists, details and exports.
- Reports: clerks and administrators, within their province.
- Every export (XLSX, printable report) and every read of a denouncer's identity is a
  line of the archive's audit log.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from aiohttp import web

from book.reports import GroupBy, Period, Report, period_bounds, previous_bounds, report
from book.values import (
    MASK,
    BookError,
    Channel,
    EntryInput,
    EntryView,
    Kind,
    Outcome,
    Person,
    RefusalReason,
    Status,
)
from book.watch import WatchChange, WatchKind, WatchStatus
from core.access import Claims, Role
from recorder.audit import Actor, AuditResult
from web.book.exports import entries_xlsx, report_html, report_xlsx
from web.book.keys import BOOK, BookServices
from web.http.auth import require
from web.http.errors import bad, http_error
from web.http.minting import page_token
from web.http.parse import (
    boolean,
    enum_value,
    integer,
    json_body,
    optional_day,
    optional_enum,
    strings,
    text,
)
from web.http.static import page

WRITERS = (Role.CLERK, Role.OPERATOR, Role.ADMINISTRATOR)
READERS = (Role.CLERK, Role.OPERATOR, Role.ADMINISTRATOR)
REPORTERS = (Role.CLERK, Role.ADMINISTRATOR)
STATUS = {"invalid": 422, "not_found": 404, "conflict": 409, "forbidden": 403}
MAX_ID = 2**31 - 1
"""Ids are 32-bit integers in the database: a larger one names nothing."""
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

routes = web.RouteTableDef()


@routes.get("/book")
async def book_page(request: web.Request) -> web.FileResponse:
    """The reception book page (clerks, administrators); it reads ``?token=`` itself."""
    await page_token(request, (Role.CLERK, Role.ADMINISTRATOR))
    return page("book/book.html")


def _refused(exc: BookError) -> web.HTTPException:
    return http_error(STATUS.get(exc.kind, 422), exc.code, exc.message)


def _services(request: web.Request) -> BookServices:
    return request.app[BOOK]


def _actor(claims: Claims) -> Actor:
    return Actor(claims.subject or f"{claims.role}@{claims.site}", str(claims.role), claims.site)


def may_reveal(claims: Claims, entry: EntryView) -> bool:
    """A denouncer's identity: administrators of the entry's site only."""
    return claims.role is Role.ADMINISTRATOR and claims.site == entry.data.site


async def _scope(request: web.Request, claims: Claims) -> frozenset[str] | None:
    return await asyncio.to_thread(_services(request).scope_of, claims.site)


async def _check_writer(request: web.Request, claims: Claims, site: str) -> None:
    if claims.role is Role.ADMINISTRATOR:
        scope = await _scope(request, claims)
        province = await asyncio.to_thread(_services(request).store.province_of, site)
        if scope is None or province in scope:
            return
    elif site == claims.site:
        return
    raise http_error(403, "forbidden_site", "write the book of your own site only")


def _people(body: dict[str, Any], key: str) -> tuple[Person, ...]:
    raw = body.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise bad("bad_field", f"{key} must be a list of objects")
    return tuple(
        Person(
            text(p, "name", required=False),
            text(p, "address", required=False),
            text(p, "id_number", required=False),
        )
        for p in raw
    )


def _entry_input(body: dict[str, Any], site: str) -> EntryInput:
    people = integer(body, "people_count")
    received = optional_day(body.get("received_on"), "received_on")
    if received is None:
        raise bad("missing_field", "received_on is required (YYYY-MM-DD)")
    try:
        return EntryInput(
            received_on=received,
            site=site,
            kind=enum_value(body.get("kind"), "kind", Kind),
            channel=enum_value(body.get("channel"), "channel", Channel),
            persons=_people(body, "persons"),
            people_count=1 if people is None else people,
            representatives=_people(body, "representatives"),
            summary=text(body, "summary", required=False),
            session_id=text(body, "session_id", required=False),
            recording_marker=text(body, "recording_marker", required=False),
            prior_bodies=strings(body, "prior_bodies"),
            outcome=optional_enum(body.get("outcome"), "outcome", Outcome),
            forwarded_to=text(body, "forwarded_to", required=False),
            refusal_reason=optional_enum(
                body.get("refusal_reason"), "refusal_reason", RefusalReason
            ),
            official=text(body, "official", required=False)[:200],
            complex=boolean(body, "complex"),
            status=optional_enum(body.get("status"), "status", Status) or Status.OPEN,
            resolved_on=optional_day(body.get("resolved_on"), "resolved_on"),
            note=text(body, "note", required=False),
        )
    except BookError as exc:
        raise _refused(exc) from None


def _entry_id(request: web.Request, key: str = "entry_id") -> int:
    raw = request.match_info[key]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise bad("bad_id", f"{key} must be a number")
    value = int(raw)
    if value > MAX_ID:
        raise http_error(404, "not_found", f"no {key} {value}")
    return value


async def _visible(request: web.Request, claims: Claims, entry_id: int) -> EntryView:
    services = _services(request)
    try:
        entry = await asyncio.to_thread(services.store.get, entry_id)
    except BookError as exc:
        raise _refused(exc) from None
    scope = await _scope(request, claims)
    if scope is not None and entry.province not in scope:
        raise http_error(404, "no_entry", f"no book entry {entry_id} that your site may see")
    return entry


async def _shown(request: web.Request, claims: Claims, entry: EntryView) -> dict[str, Any]:
    services = _services(request)
    reveal = may_reveal(claims, entry)
    if reveal and entry.data.kind is Kind.DENUNCIATION:
        await asyncio.to_thread(
            services.audit.append,
            _actor(claims),
            "view_denouncer",
            f"book:{entry.id}",
            AuditResult.OK,
            sites=[entry.data.site],
        )
    return entry.as_dict(reveal=reveal, today=services.today())


@routes.post("/api/book/entries")
async def create_entry(request: web.Request) -> web.Response:
    """Write an entry (the console during a session, a clerk afterwards)."""
    claims = require(request, WRITERS)
    body = await json_body(request)
    site = text(body, "site", required=False) or claims.site
    await _check_writer(request, claims, site)
    data = _entry_input(body, site)
    if claims.role is Role.OPERATOR and data.channel is not Channel.ONLINE:
        raise http_error(403, "forbidden_channel", "operators write online receptions only")
    services = _services(request)
    try:
        made = await asyncio.to_thread(services.store.create, data, by=claims.subject or "?")
    except BookError as exc:
        raise _refused(exc) from None
    return web.json_response(await _shown(request, claims, made), status=201)


@routes.get("/api/book/entries")
async def list_entries(request: web.Request) -> web.Response:
    """Entries in the reader's scope, newest first (``start``, ``end``, ``kind``, ``site``)."""
    claims = require(request, READERS)
    entries = await _query_entries(request, claims)
    services = _services(request)
    today = services.today()
    return web.json_response(
        {"entries": [e.as_dict(reveal=may_reveal(claims, e), today=today) for e in entries]}
    )


async def _query_entries(request: web.Request, claims: Claims) -> list[EntryView]:
    q = request.query
    start = optional_day(q.get("start"), "start")
    end = optional_day(q.get("end"), "end")
    kind = optional_enum(q.get("kind") or None, "kind", Kind)
    site = q.get("site") or None
    limit = q.get("limit", "500")
    if not limit.isdigit():
        raise bad("bad_field", "limit must be a number")
    scope = await _scope(request, claims)
    store = _services(request).store
    return await asyncio.to_thread(
        lambda: store.entries(
            provinces=scope,
            sites=None if site is None else [site],
            start=start,
            end=end,
            kind=kind,
            limit=int(limit),
        )
    )


@routes.get("/api/book/entries/{entry_id}")
async def entry_detail(request: web.Request) -> web.Response:
    """One entry with its history; 404 out of the reader's province."""
    claims = require(request, READERS)
    entry = await _visible(request, claims, _entry_id(request))
    return web.json_response(await _shown(request, claims, entry))


@routes.put("/api/book/entries/{entry_id}")
async def edit_entry(request: web.Request) -> web.Response:
    """A new version of an entry (the site stays)."""
    claims = require(request, WRITERS)
    entry = await _visible(request, claims, _entry_id(request))
    await _check_writer(request, claims, entry.data.site)
    body = await json_body(request)
    data = _entry_input(body, entry.data.site)
    if entry.data.kind is Kind.DENUNCIATION and not may_reveal(claims, entry):
        if data.kind is not Kind.DENUNCIATION:
            # Another kind would show the denouncer to everyone who reads the book.
            raise http_error(
                403,
                "forbidden_kind_change",
                "only an administrator of the entry's site changes a denunciation's kind",
            )
        # Whoever read the identity masked sends the mask back: keep the stored one.
        kept = entry.data
        data = _with_persons(data, kept.persons, kept.representatives)
    expect = integer(body, "expect_version")
    services = _services(request)
    try:
        done = await asyncio.to_thread(
            lambda: services.store.edit(
                entry.id, data, by=claims.subject or "?", expect_version=expect
            )
        )
    except BookError as exc:
        raise _refused(exc) from None
    return web.json_response(await _shown(request, claims, done))


def _with_persons(
    data: EntryInput, persons: tuple[Person, ...], reps: tuple[Person, ...]
) -> EntryInput:
    masked = all(p.name == MASK for p in data.persons)
    if not masked:
        return data
    return replace(data, persons=persons, representatives=reps)


@routes.get("/api/book/entries.xlsx")
async def export_entries(request: web.Request) -> web.Response:
    """The entries in scope as XLSX (denouncers masked unless revealed); audited."""
    claims = require(request, REPORTERS)
    entries = await _query_entries(request, claims)
    services = _services(request)
    rows = [e.as_dict(reveal=may_reveal(claims, e), today=services.today()) for e in entries]
    data = await asyncio.to_thread(entries_xlsx, rows)
    await asyncio.to_thread(
        services.audit.append,
        _actor(claims),
        "export_book",
        request.path_qs[:500],
        AuditResult.OK,
        detail=f"{len(rows)} entries, {sum(1 for r in rows if r['masked'])} masked",
        sites=sorted({str(r["site"]) for r in rows})[:50],
    )
    return _download(data, "so-tiep-cong-dan.xlsx", XLSX)


def _download(data: bytes, name: str, content_type: str) -> web.Response:
    return web.Response(
        body=data,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- the watch list -----------------------------------------------------------------


@routes.get("/api/book/watch")
async def watch_list(request: web.Request) -> web.Response:
    """Watch items of the reader's province (the central office: all), overdue marked."""
    claims = require(request, READERS)
    scope = await _scope(request, claims)
    services = _services(request)
    items = await asyncio.to_thread(lambda: services.watch.items(provinces=scope))
    today = services.today()
    return web.json_response({"items": [i.as_dict(today) for i in items]})


@routes.post("/api/book/watch")
async def watch_add(request: web.Request) -> web.Response:
    claims = require(request, WRITERS)
    body = await json_body(request)
    site = text(body, "site", required=False) or claims.site
    await _check_writer(request, claims, site)
    services = _services(request)
    entry_id = integer(body, "entry_id")
    if entry_id is not None:
        await _visible(request, claims, entry_id)
    try:
        item = await asyncio.to_thread(
            lambda: services.watch.add(
                site=site,
                kind=enum_value(body.get("kind"), "kind", WatchKind),
                title=text(body, "title"),
                by=claims.subject or "?",
                official=text(body, "official", required=False),
                people_count=integer(body, "people_count") or 0,
                entry_id=entry_id,
                next_dialogue=optional_day(body.get("next_dialogue"), "next_dialogue"),
                deadline=optional_day(body.get("deadline"), "deadline"),
            )
        )
    except BookError as exc:
        raise _refused(exc) from None
    return web.json_response(item.as_dict(services.today()), status=201)


@routes.put("/api/book/watch/{item_id}")
async def watch_update(request: web.Request) -> web.Response:
    claims = require(request, WRITERS)
    item_id = _entry_id(request, "item_id")
    services = _services(request)
    try:
        item = await asyncio.to_thread(services.watch.get, item_id)
    except BookError as exc:
        raise _refused(exc) from None
    scope = await _scope(request, claims)
    if scope is not None and item.province not in scope:
        raise http_error(404, "no_watch_item", f"no watch item {item_id} that you may see")
    await _check_writer(request, claims, item.site)
    body = await json_body(request)
    change = WatchChange(
        official=text(body, "official", required=False) if "official" in body else None,
        status=optional_enum(body.get("status"), "status", WatchStatus),
        next_dialogue=optional_day(body.get("next_dialogue"), "next_dialogue"),
        deadline=optional_day(body.get("deadline"), "deadline"),
        note=text(body, "note", required=False),
    )
    try:
        done = await asyncio.to_thread(
            lambda: services.watch.update(item_id, change, by=claims.subject or "?")
        )
    except BookError as exc:
        raise _refused(exc) from None
    return web.json_response(done.as_dict(services.today()))


# -- reports ------------------------------------------------------------------------


async def _report(request: web.Request) -> tuple[Claims, Report]:
    claims = require(request, REPORTERS)
    raw = request.match_info["period"]
    try:
        period = Period(raw)
    except ValueError:
        raise bad("bad_period", "period is daily, monthly or quarterly") from None
    day = optional_day(request.query.get("day"), "day") or _services(request).today()
    scope = await _scope(request, claims)
    services = _services(request)
    start, end = period_bounds(period, day)

    def build() -> Report:
        sessions = None if period is Period.DAILY else services.sessions(start, end)
        previous = None
        if period is Period.MONTHLY:
            previous = services.sessions(*previous_bounds(period, start))
        return report(
            services.store.engine,
            period,
            day,
            provinces=scope,
            sessions=sessions,
            previous_sessions=previous,
        )

    return claims, await asyncio.to_thread(build)


@routes.get("/api/book/reports/{period}")
async def report_json(request: web.Request) -> web.Response:
    """A report as JSON (``day`` picks the period; today by default)."""
    _, result = await _report(request)
    return web.json_response(result.as_dict())


@routes.get("/api/book/reports/{period}/xlsx")
async def report_download(request: web.Request) -> web.Response:
    """A report as XLSX; audited."""
    claims, result = await _report(request)
    names = await _names(request, result)
    data = await asyncio.to_thread(report_xlsx, result, claims.site, names)
    await _audit_export(request, claims, "export_report_xlsx", result)
    return _download(data, f"bao-cao-{result.period}-{result.start.isoformat()}.xlsx", XLSX)


@routes.get("/api/book/reports/{period}/print")
async def report_print(request: web.Request) -> web.Response:
    """A report as a printable document in the administrative form; audited."""
    claims, result = await _report(request)
    services = _services(request)
    office = await asyncio.to_thread(services.site_name, claims.site)
    number = request.query.get("number", "")[:40]
    names = await _names(request, result)
    page = report_html(result, office=office, number=number, today=services.today(), names=names)
    await _audit_export(request, claims, "export_report_print", result)
    return web.Response(text=page, content_type="text/html")


async def _names(request: web.Request, result: Report) -> dict[str, str]:
    """The names of the report's groups, as an office writes them."""
    services = _services(request)
    groups = set(result.rows) | set(result.previous or {})
    return await asyncio.to_thread(lambda: {g: services.site_name(g) for g in groups})


async def _audit_export(request: web.Request, claims: Claims, action: str, result: Report) -> None:
    services = _services(request)
    await asyncio.to_thread(
        services.audit.append,
        _actor(claims),
        action,
        request.path_qs[:500],
        AuditResult.OK,
        detail=f"{result.period} {result.start}..{result.end}, {len(result.rows)} rows",
        sites=sorted(result.rows)[:50] if result.group_by is GroupBy.SITE else [claims.site],
    )
