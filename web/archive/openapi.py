"""The archive routes in the OpenAPI document (see web/archive/api.py, cases_api.py).

Recordings (search, detail, files with ranges), exports (extract, composed file, status,
download), cases, markers, the audit log and verification. Files are binary content."""

from __future__ import annotations

from web.http.openapi import (
    BINARY,
    BOOLEAN,
    INSTANT,
    INTEGER,
    STRING,
    STRINGS,
    Json,
    Part,
    body,
    nullable,
    obj,
    ok,
    op,
    path_param,
    query_param,
    ref,
)

FILE_MEDIA_TYPES = {".webm": "video/webm", ".mkv": "video/x-matroska"}
"""What a recorded or exported file is sent as, by its suffix: the recorder writes WebM
(VP8, Opus) or Matroska (H264); extracts keep their source's container, a composed file
is WebM."""


def _files(responses: Json) -> Json:
    """``responses`` with the success answer in each file media type, not one generic."""
    success = responses["200"]
    schema = next(iter(success["content"].values()))["schema"]
    success["content"] = {media: {"schema": schema} for media in FILE_MEDIA_TYPES.values()}
    return responses


READERS = "clerk, administrator (recordings of their site's sessions)"
PERSON: Json = {"type": "object"}

FILE: Json = obj(
    {
        "name": STRING,
        "site": STRING,
        "offset_ms": INTEGER,
        "duration_ms": INTEGER,
        "bytes": INTEGER,
        "sha256": STRING,
        "recovered": BOOLEAN,
    }
)
MARKER: Json = obj(
    {
        "session_id": STRING,
        "case_number": STRING,
        "text": STRING,
        "at": INSTANT,
        "offset_ms": INTEGER,
        "end_ms": nullable(INTEGER),
    }
)
RECORDING_FIELDS: Json = {
    "session_id": STRING,
    "title": STRING,
    "host_site": STRING,
    "sites": STRINGS,
    "started_at": INSTANT,
    "ended_at": nullable(INSTANT),
    "status": {"enum": ["recording", "complete", "recovered"]},
    "files": {"type": "array", "items": ref("ArchiveFile")},
    "markers": {"type": "array", "items": ref("ArchiveMarker")},
    "cases": STRINGS,
}
RECORDING: Json = obj(RECORDING_FIELDS)
GAP: Json = obj(
    {
        "file": STRING,
        "site": STRING,
        "kind": STRING,
        "from_ms": INTEGER,
        "to_ms": INTEGER,
        "frames": INTEGER,
    }
)
RECORDING_DETAIL: Json = obj({**RECORDING_FIELDS, "gaps": {"type": "array", "items": GAP}})
EXPORT: Json = obj(
    {
        "id": STRING,
        "kind": {"enum": ["extract", "composed"]},
        "recording": STRING,
        "sites": STRINGS,
        "file_name": STRING,
        "created_by": STRING,
        "reason": STRING,
        "state": {"enum": ["running", "done", "failed"]},
        "progress": {"type": "number"},
        "detail": {"type": "object"},
        "download": nullable(STRING),
    }
)
CASE: Json = obj(
    {
        "number": STRING,
        "pending": BOOLEAN,
        "kind": nullable(STRING),
        "summary": STRING,
        "crowd": BOOLEAN,
        "people_count": INTEGER,
        "persons_received": {"type": "array", "items": PERSON},
        "officials": STRINGS,
        "outcome": nullable(STRING),
        "refusal_reason": nullable(STRING),
        "sites": STRINGS,
        "sessions": STRINGS,
        "has_denouncer": BOOLEAN,
        "denouncers": {
            "type": "array",
            "items": obj({"name": STRING, "address": STRING, "id_number": STRING}),
        },
    },
    optional=("denouncers",),
)
AUDIT_LINE: Json = obj(
    {
        "id": INTEGER,
        "at": INSTANT,
        "actor": STRING,
        "role": STRING,
        "actor_site": STRING,
        "action": STRING,
        "target": STRING,
        "reason": STRING,
        "result": STRING,
        "detail": STRING,
    }
)
REASON: Json = {"type": "object", "properties": {"reason": STRING}}


def openapi_part() -> Part:
    recording = path_param("recording", "the recording's session id")
    export = path_param("export", "the export's id")
    reason = query_param("reason", "why (written in the audit log)")
    day = {"type": "string", "format": "date"}
    search = [
        query_param("case", "a case number or its beginning"),
        query_param("from", "recordings started on or after this day (YYYY-MM-DD)", day),
        query_param("to", "recordings started on or before this day (YYYY-MM-DD)", day),
        query_param("site", "a site taking part"),
        query_param("kind", "the kind of a case recorded"),
        query_param("outcome", "the outcome of a case recorded"),
    ]
    paths: Json = {
        "/api/archive/recordings": {
            "get": op(
                "Search the recordings",
                READERS,
                ok(
                    "the recordings found",
                    obj({"recordings": {"type": "array", "items": ref("ArchiveRecording")}}),
                    "400",
                    "401",
                    "403",
                    "422",
                ),
                cookie=True,
                parameters=search,
            )
        },
        "/api/archive/recordings/{recording}": {
            "get": op(
                "One recording, with its dropped-frame gaps",
                READERS,
                ok("the recording", RECORDING_DETAIL, "400", "401", "403", "404"),
                cookie=True,
                parameters=[recording],
            )
        },
        "/api/archive/recordings/{recording}/files/{name}": {
            "get": op(
                "A recorded file (HTTP ranges accepted)",
                READERS,
                _files(
                    ok(
                        "the file",
                        BINARY,
                        "400",
                        "401",
                        "403",
                        "404",
                        "416",
                    )
                ),
                cookie=True,
                parameters=[
                    recording,
                    path_param("name", "the file's name"),
                    query_param("download", "1: as an attachment", {"enum": ["0", "1"]}),
                    reason,
                ],
            )
        },
        "/api/archive/recordings/{recording}/extracts": {
            "post": op(
                "Cut a time range or a case's marked range out of one file",
                READERS,
                ok(
                    "the extract (done)",
                    ref("ArchiveExport"),
                    "400",
                    "401",
                    "403",
                    "404",
                    "422",
                    status="201",
                ),
                cookie=True,
                parameters=[recording],
                requestBody=body(
                    {
                        "type": "object",
                        "required": ["reason", "file"],
                        "properties": {
                            "reason": STRING,
                            "file": STRING,
                            "case_number": STRING,
                            "start_ms": INTEGER,
                            "end_ms": INTEGER,
                        },
                    }
                ),
            )
        },
        "/api/archive/recordings/{recording}/compose": {
            "post": op(
                "Start the composed single file (sites side by side)",
                READERS,
                ok(
                    "the export (running)",
                    ref("ArchiveExport"),
                    "400",
                    "401",
                    "403",
                    "404",
                    "422",
                    status="202",
                ),
                cookie=True,
                parameters=[recording],
                requestBody=body(
                    {"type": "object", "required": ["reason"], "properties": {"reason": STRING}}
                ),
            )
        },
        "/api/archive/exports/{export}": {
            "get": op(
                "An export job's state and progress",
                READERS,
                ok("the export", ref("ArchiveExport"), "400", "401", "403", "404"),
                cookie=True,
                parameters=[export],
            )
        },
        "/api/archive/exports/{export}/file": {
            "get": op(
                "An export's file (once done)",
                READERS,
                _files(
                    ok(
                        "the file",
                        BINARY,
                        "400",
                        "401",
                        "403",
                        "404",
                        "409",
                        "416",
                    )
                ),
                cookie=True,
                parameters=[export, reason],
            )
        },
        "/api/archive/cases": {
            "post": op(
                "Record a case (or complete one an operator's marker opened)",
                "clerk, operator, administrator (cases of their own site)",
                ok(
                    "the case",
                    ref("ArchiveCase"),
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "422",
                    status="201",
                ),
                cookie=True,
                requestBody=body(
                    {
                        "type": "object",
                        "required": ["number", "sites"],
                        "properties": {
                            "number": STRING,
                            "kind": STRING,
                            "sites": STRINGS,
                            "summary": STRING,
                            "people_count": INTEGER,
                            "persons_received": {"type": "array", "items": PERSON},
                            "denouncers": {"type": "array", "items": PERSON},
                            "officials": STRINGS,
                            "outcome": STRING,
                            "refusal_reason": STRING,
                        },
                    }
                ),
            )
        },
        "/api/archive/cases/{number}": {
            "get": op(
                "A case (its denouncers for administrators of one of its sites)",
                READERS,
                ok("the case", ref("ArchiveCase"), "400", "401", "403", "404"),
                cookie=True,
                parameters=[path_param("number", "the case number"), reason],
            )
        },
        "/api/archive/sessions/{session}/markers": {
            "post": op(
                "Mark the case now being discussed",
                "operator, administrator (of the host site)",
                ok(
                    "the marker",
                    ref("ArchiveMarker"),
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "422",
                    status="201",
                ),
                cookie=True,
                parameters=[path_param("session", "the session's id")],
                requestBody=body(
                    {
                        "type": "object",
                        "required": ["case_number"],
                        "properties": {"case_number": STRING, "text": STRING},
                    }
                ),
            )
        },
        "/api/archive/audit": {
            "get": op(
                "The audit lines by or about the administrator's site, newest first",
                "administrator",
                ok(
                    "the lines",
                    obj({"entries": {"type": "array", "items": AUDIT_LINE}}),
                    "400",
                    "401",
                    "403",
                ),
                cookie=True,
                parameters=[
                    query_param("action", "only this action"),
                    query_param("limit", "at most this many lines", INTEGER),
                ],
            )
        },
        "/api/archive/verify": {
            "post": op(
                "Recompute every recorded file's SHA-256 against its manifest",
                "administrator",
                ok(
                    "what was checked",
                    obj(
                        {
                            "checked": INTEGER,
                            "problems": {
                                "type": "array",
                                "items": obj(
                                    {"recording": STRING, "file": STRING, "problem": STRING}
                                ),
                            },
                        }
                    ),
                    "400",
                    "401",
                    "403",
                ),
                cookie=True,
                requestBody=body(REASON, required=False),
            )
        },
    }
    schemas: Json = {
        "ArchiveFile": FILE,
        "ArchiveMarker": MARKER,
        "ArchiveRecording": RECORDING,
        "ArchiveExport": EXPORT,
        "ArchiveCase": CASE,
    }
    return Part(paths, schemas)
