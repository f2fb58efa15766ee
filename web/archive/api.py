"""The clerk archive: search, playback with ranges, extracts, composition, cases, audit.

Every route is audited (``web/archive_audit.py``), refusals included. A recording or
case the caller's site may not see answers 404 exactly like one that does not exist,
so nothing about it leaks; the audit line tells the two apart.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from core.access import Claims, Role
from recorder import access
from recorder.archive import RecordingView, SearchQuery
from recorder.audit import AuditResult
from recorder.compose import ComposeInput, run_compose
from recorder.manifest import MANIFEST_NAME, read_manifest
from recorder.models import CaseKind, Outcome
from recorder.remux import cut_extract
from recorder.service import RECORDINGS
from recorder.storage import StorageError
from web.archive.audit import Attempt, audited, name_param
from web.archive.jobs import Export, JobState
from web.archive.keys import ARCHIVE
from web.archive.openapi import FILE_MEDIA_TYPES
from web.http.errors import bad, http_error, inconsistent
from web.http.minting import page_token
from web.http.parse import (
    case_number,
    day_range,
    integer,
    json_body,
    optional_day,
    optional_enum,
    optional_text,
    text,
)
from web.http.static import page

logger = logging.getLogger(__name__)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_REASON = 1000
CASE_KEYFRAME_SNAP_MS = 2000
"""A case's extract starts at the keyframe its marker asked for, if it came this soon."""

routes = web.RouteTableDef()


def archive_claims(request: web.Request, attempt: Attempt) -> Claims:
    """The caller's verified claims, if their role may use the archive."""
    claims = attempt.authenticate(request)
    if not access.may_use_archive(str(claims.role)):
        raise http_error(403, "forbidden_role", "the archive is for clerks and administrators")
    return claims


def _site(attempt: Attempt) -> str:
    assert attempt.claims is not None
    return attempt.claims.site


async def _visible_recording(request: web.Request, attempt: Attempt) -> RecordingView:
    """The recording named in the path, if the caller's site took part in it."""
    recording_id = name_param(request, "recording")
    attempt.target = f"recording:{recording_id}"
    recording = await asyncio.to_thread(request.app[ARCHIVE].archive.recording, recording_id)
    if recording is None:
        raise http_error(404, "not_found", f"no recording {recording_id} that your site may see")
    attempt.sites = recording.sites
    if not access.may_see(attempt.actor.role, attempt.actor.site, recording.sites):
        attempt.detail, attempt.result = "other_site", AuditResult.DENIED
        raise http_error(404, "not_found", f"no recording {recording_id} that your site may see")
    return recording


def reason_param(raw: Any, *, required: bool) -> str:
    """The stated reason: absent or not a string is malformed (400); a required one left
    blank, or one too long, is inconsistent (422)."""
    if raw is None:
        if required:
            raise bad("missing_field", "reason is required: say why")
        return ""
    if not isinstance(raw, str):
        raise bad("bad_field", "reason must be a string")
    reason = raw.strip()
    if required and not reason:
        raise inconsistent("reason_required", "say why (the written request, the case file...)")
    if len(reason) > MAX_REASON:
        raise inconsistent("reason_too_long", f"the reason has at most {MAX_REASON} characters")
    return reason


def _local_midnight(day: date) -> datetime:
    """The start of ``day`` in Hanoi, in UTC."""
    return datetime.combine(day, time(0), VIETNAM).astimezone(UTC)


# -- pages -----------------------------------------------------------------------------


@routes.get("/archive")
async def archive_page(request: web.Request) -> web.FileResponse:
    """The clerk archive page; it reads ``?token=`` itself."""
    await page_token(request, (Role.ADMINISTRATOR, Role.CLERK))
    return page("archive/archive.html")


# -- search and view -------------------------------------------------------------------


@routes.get("/api/archive/recordings")
@audited("search")
async def search(request: web.Request, attempt: Attempt) -> web.Response:
    archive_claims(request, attempt)
    q = request.query
    attempt.target = "search:" + "&".join(
        f"{k}={q[k]}" for k in ("case", "from", "to", "site", "kind", "outcome") if q.get(k)
    )
    first, last = optional_day(q.get("from"), "from"), optional_day(q.get("to"), "to")
    if first is not None and last is not None:
        day_range(first, last)
    query = SearchQuery(
        case_number=q.get("case", "").strip()[:64],
        start=_local_midnight(first) if first else None,
        end=_local_midnight(last + timedelta(days=1)) if last else None,
        site=q.get("site", "").strip()[:64],
        kind=optional_enum(q.get("kind"), "kind", CaseKind),
        outcome=optional_enum(q.get("outcome"), "outcome", Outcome),
    )
    results = await asyncio.to_thread(request.app[ARCHIVE].archive.search, query, _site(attempt))
    attempt.detail = f"{len(results)} results"
    return web.json_response({"recordings": [r.as_dict() for r in results]})


@routes.get("/api/archive/recordings/{recording}")
@audited("view")
async def recording_detail(request: web.Request, attempt: Attempt) -> web.Response:
    archive_claims(request, attempt)
    recording = await _visible_recording(request, attempt)
    body = recording.as_dict()
    body["gaps"] = await asyncio.to_thread(_gaps, request, recording.session_id)
    return web.json_response(body)


def _gaps(request: web.Request, session_id: str) -> list[dict[str, Any]]:
    """Where frames were dropped before they reached the files (the recorder's queue was
    full, or its worker died), so that a clerk knows the picture stands still there and
    why. A recording without a manifest yet (still being written) has none to show."""
    storage = request.app[ARCHIVE].storage
    manifest_path = storage.local_path(f"{RECORDINGS}/{session_id}/{MANIFEST_NAME}")
    try:
        manifest = read_manifest(manifest_path.parent)
    except FileNotFoundError:
        return []
    return [
        {
            "file": gap.file,
            "site": gap.site,
            "kind": gap.kind,
            "from_ms": gap.from_ms,
            "to_ms": gap.to_ms,
            "frames": gap.frames,
        }
        for gap in manifest.gaps
    ]


@routes.get("/api/archive/recordings/{recording}/files/{name}")
@audited("play")
async def recording_file(request: web.Request, attempt: Attempt) -> web.StreamResponse:
    """A recorded file with HTTP range support (the browser's player seeks with ranges)."""
    archive_claims(request, attempt)
    recording = await _visible_recording(request, attempt)
    name = name_param(request, "name")
    attempt.target = f"recording:{recording.session_id}/{name}"
    if request.query.get("download") == "1":
        attempt.action = "download"
    attempt.reason = reason_param(request.query.get("reason"), required=False)
    if name not in {f.name for f in recording.files}:
        raise http_error(404, "not_found", f"recording {recording.session_id} has no file {name}")
    storage = request.app[ARCHIVE].storage
    try:
        path = storage.local_path(f"{RECORDINGS}/{recording.session_id}/{name}")
    except StorageError:
        raise http_error(404, "not_found", f"file {name} is missing from storage") from None
    size = path.stat().st_size
    _check_range(request, size, attempt)
    headers = {
        "Cache-Control": "no-store",
        "Accept-Ranges": "bytes",
        "Content-Type": _media_type(name),
    }
    if attempt.action == "download":
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return web.FileResponse(path, headers=headers)


def _check_range(request: web.Request, size: int, attempt: Attempt) -> None:
    """Refuse a range beyond the file with a JSON 416 (aiohttp would send a bare one)."""
    if "Range" not in request.headers:
        return
    attempt.detail = f"range {request.headers['Range'][:100]}"
    try:
        wanted = request.http_range
    except ValueError:
        raise http_error(416, "bad_range", "the Range header is malformed") from None
    start = wanted.start
    if start is not None and start >= size:
        exc = http_error(
            416, "range_not_satisfiable", f"the range starts beyond the file ({size} bytes)"
        )
        exc.headers["Content-Range"] = f"bytes */{size}"
        raise exc


# -- exports ---------------------------------------------------------------------------


@routes.post("/api/archive/recordings/{recording}/extracts")
@audited("export_extract")
async def make_extract(request: web.Request, attempt: Attempt) -> web.Response:
    """Cut a time range (or one case's marked range) out of one file, without re-encoding."""
    archive_claims(request, attempt)
    recording = await _visible_recording(request, attempt)
    body = await json_body(request)
    attempt.reason = reason_param(body.get("reason"), required=True)
    name = text(body, "file")
    file = next((f for f in recording.files if f.name == name), None)
    if file is None:
        raise http_error(404, "not_found", f"recording {recording.session_id} has no file {name!r}")
    if optional_text(body, "case_number"):
        number = case_number(body["case_number"])
        ranges = [m for m in recording.markers if m.case_number == number]
        if not ranges:
            raise http_error(404, "unknown_case", f"case {number} is not marked in this recording")
        start = min(m.offset_ms for m in ranges) - file.offset_ms
        ends = [
            m.end_ms if m.end_ms is not None else file.offset_ms + file.duration_ms for m in ranges
        ]
        end = max(ends) - file.offset_ms
        attempt.detail = f"case {number}"
        snap = CASE_KEYFRAME_SNAP_MS
    else:
        first, last = integer(body, "start_ms"), integer(body, "end_ms")
        if first is None or last is None:
            raise bad("missing_field", "give start_ms and end_ms, or case_number")
        start, end = first, last
        snap = 0
    start, end = max(0, start), min(end, file.duration_ms)
    if end <= start:
        raise inconsistent(
            "bad_range", f"the range is empty within {file.name} ({file.duration_ms} ms)"
        )
    services = request.app[ARCHIVE]
    source = services.storage.local_path(f"{RECORDINGS}/{recording.session_id}/{file.name}")
    ext = file.name.rsplit(".", 1)[-1]
    export = services.jobs.new(
        "extract", recording.session_id, recording.sites, ext, attempt.actor.name, attempt.reason
    )
    attempt.target += f"/{file.name} [{start},{end}) -> export:{export.id}"
    target = services.storage.new_path(export.key)
    try:
        result = await services.runner.run(cut_extract, source, target, start, end, snap_ms=snap)
    except (ValueError, RuntimeError) as exc:
        services.jobs.fail(export, str(exc))
        raise inconsistent("extract_failed", str(exc)) from None
    services.jobs.finish(
        export,
        {
            "file": file.name,
            "requested_start_ms": start,
            "start_ms": result.start_ms,
            "end_ms": result.end_ms,
            "duration_ms": result.duration_ms,
        },
    )
    return web.json_response(export.as_dict(), status=201)


@routes.post("/api/archive/recordings/{recording}/compose")
@audited("export_composed")
async def compose(request: web.Request, attempt: Attempt) -> web.Response:
    """Start the composed single file (sites side by side, audio mixed) in the background."""
    archive_claims(request, attempt)
    recording = await _visible_recording(request, attempt)
    body = await json_body(request)
    attempt.reason = reason_param(body.get("reason"), required=True)
    services = request.app[ARCHIVE]
    folder = services.storage.local_path(f"{RECORDINGS}/{recording.session_id}/{MANIFEST_NAME}")
    manifest = await asyncio.to_thread(read_manifest, folder.parent)
    inputs = []
    for file in recording.files:
        entry = manifest.file(file.name)
        kinds = {t.kind for t in entry.tracks} if entry else set()
        inputs.append(
            ComposeInput(
                folder.parent / file.name,
                file.offset_ms,
                file.duration_ms,
                "video" in kinds,
                "audio" in kinds,
            )
        )
    if not inputs:
        raise inconsistent("nothing_to_compose", "the recording has no files")
    export = services.jobs.new(
        "composed",
        recording.session_id,
        recording.sites,
        "webm",
        attempt.actor.name,
        attempt.reason,
    )
    attempt.target += f" -> export:{export.id}"
    target = services.storage.new_path(export.key)

    async def work(job: Export) -> None:
        def progress(value: float) -> None:
            job.progress = round(value, 3)

        await run_compose(services.ffmpeg, inputs, target, progress)

    services.jobs.run(export, work)
    return web.json_response(export.as_dict(), status=202)


@routes.get("/api/archive/exports/{export}")
@audited("export_status")
async def export_status(request: web.Request, attempt: Attempt) -> web.Response:
    """An export job: state and progress; ``download`` is set once it is done."""
    archive_claims(request, attempt)
    export = _visible_export(request, attempt)
    return web.json_response(export.as_dict())


@routes.get("/api/archive/exports/{export}/file")
@audited("download_export")
async def export_file(request: web.Request, attempt: Attempt) -> web.StreamResponse:
    archive_claims(request, attempt)
    export = _visible_export(request, attempt)
    attempt.reason = reason_param(request.query.get("reason"), required=False)
    if export.state is not JobState.DONE:
        raise http_error(409, "not_ready", f"export {export.id} is {export.state}")
    try:
        path = request.app[ARCHIVE].storage.local_path(export.key)
    except StorageError:
        raise http_error(404, "not_found", f"export {export.id} has no file") from None
    _check_range(request, path.stat().st_size, attempt)
    headers = {
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{export.recording}-{export.file_name}"',
        "Content-Type": _media_type(export.file_name),
    }
    return web.FileResponse(path, headers=headers)


def _media_type(name: str) -> str:
    """The documented media type of a recorded or exported file (not the host's guess:
    its MIME table may not know ``.mkv``)."""
    return FILE_MEDIA_TYPES.get(name[name.rfind(".") :].lower(), "application/octet-stream")


def _visible_export(request: web.Request, attempt: Attempt) -> Export:
    export_id = name_param(request, "export")
    attempt.target = f"export:{export_id}"
    export = request.app[ARCHIVE].jobs.get(export_id)
    if export is None:
        raise http_error(404, "not_found", f"no export {export_id} that your site may see")
    attempt.sites = export.sites
    if not access.may_see(attempt.actor.role, attempt.actor.site, export.sites):
        attempt.detail, attempt.result = "other_site", AuditResult.DENIED
        raise http_error(404, "not_found", f"no export {export_id} that your site may see")
    return export
