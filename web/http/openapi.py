"""Building blocks of the OpenAPI 3.1 document at ``/api/openapi.json``.

Each part of ``web/`` describes its own JSON routes (``openapi_part()`` in its package:
paths and schemas); :func:`document` puts the parts together (``web/app.py`` does, once).
Every operation says what it answers on success and which error statuses it can answer,
each with the one error body ``{"error": {"code", "message"}}`` (see
:mod:`web.http.errors` for the rule behind each status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

STATUSES: dict[str, str] = {
    "400": "malformed input (see web/http/errors.py)",
    "401": "token or sign-in missing, invalid or expired",
    "403": "role or site scope forbids it (or the anti-forgery token is missing)",
    "404": "what the path names does not exist, or the caller's site may not see it",
    "409": "it clashes with what is stored",
    "413": "the body is too large",
    "416": "the Range header cannot be satisfied",
    "422": "well-formed but inconsistent input",
    "429": "too many failed sign-ins: the user name is locked for a while",
}
"""The generic meaning of each error status; a part may say more per operation."""

ERROR_SCHEMA: Json = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
    "additionalProperties": False,
}

STRING: Json = {"type": "string"}
INSTANT: Json = {"type": "string", "format": "date-time"}
INTEGER: Json = {"type": "integer"}
BOOLEAN: Json = {"type": "boolean"}
STRINGS: Json = {"type": "array", "items": STRING}
BINARY: Json = {"type": "string", "format": "binary"}


@dataclass(slots=True)
class Part:
    """One part's share of the document."""

    paths: Json = field(default_factory=dict)
    schemas: Json = field(default_factory=dict)


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Json) -> Json:
    return {"oneOf": [schema, {"type": "null"}]}


def obj(properties: Json, optional: tuple[str, ...] = ()) -> Json:
    """A reply object: every property present unless named optional, no others."""
    return {
        "type": "object",
        "required": [k for k in properties if k not in optional],
        "properties": properties,
        "additionalProperties": False,
    }


def body(schema: Json, required: bool = True) -> Json:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def errors(*codes: str, say: dict[str, str] | None = None) -> Json:
    said = say or {}
    return {
        code: {
            "description": said.get(code, STATUSES[code]),
            "content": {"application/json": {"schema": ref("Error")}},
        }
        for code in codes
    }


def ok(
    description: str,
    schema: Json,
    *codes: str,
    status: str = "200",
    media: str = "application/json",
    say: dict[str, str] | None = None,
) -> Json:
    """The success answer (its schema is required) and the error answers ``codes``."""
    out: Json = {status: {"description": description, "content": {media: {"schema": schema}}}}
    out.update(errors(*codes, say=say))
    return out


def path_param(name: str, description: str, schema: Json | None = None) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or dict(STRING),
    }


def query_param(name: str, description: str, schema: Json | None = None) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or dict(STRING),
    }


def op(summary: str, roles: str, responses: Json, *, cookie: bool = False, **extra: Any) -> Json:
    """An operation; ``roles`` goes in its description. A bearer token authenticates it
    unless it is public; ``cookie``: the signed-in session cookie does (or may) too."""
    out: Json = {"summary": summary, "description": f"Roles: {roles}.", "responses": responses}
    if roles != "public":
        out["security"] = [{"bearer": []}, {"cookie": []}] if cookie else [{"bearer": []}]
    out.update(extra)
    return out


def document(base: Json, *parts: Part) -> Json:
    """``base`` (a whole document) with the parts' paths and schemas added."""
    doc = {**base, "paths": dict(base["paths"])}
    components = dict(doc.get("components", {}))
    schemas = dict(components.get("schemas", {}))
    schemes = dict(components.get("securitySchemes", {}))
    schemas.setdefault("Error", ERROR_SCHEMA)
    schemes.setdefault("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    schemes.setdefault("cookie", {"type": "apiKey", "in": "cookie", "name": "rb_session"})
    for part in parts:
        for path, item in part.paths.items():
            if path in doc["paths"]:
                raise ValueError(f"{path} is described twice")
            doc["paths"][path] = item
        for name, schema in part.schemas.items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"schema {name} is described twice")
            schemas[name] = schema
    components["schemas"] = schemas
    components["securitySchemes"] = schemes
    doc["components"] = components
    return doc
