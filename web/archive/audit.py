"""Every archive request is audited, refused ones included: a handler decorator."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from core.access import Claims
from recorder.audit import Actor, AuditResult
from recorder.storage import StorageError, check_name
from web.archive.keys import ARCHIVE
from web.http.auth import authenticate
from web.http.errors import bad

logger = logging.getLogger(__name__)

ANONYMOUS = Actor("anonymous", "none", "-")

RESULTS = {
    400: AuditResult.BAD_REQUEST,
    401: AuditResult.DENIED,
    403: AuditResult.DENIED,
    404: AuditResult.NOT_FOUND,
    409: AuditResult.BAD_REQUEST,
    413: AuditResult.BAD_REQUEST,
    416: AuditResult.BAD_REQUEST,
    422: AuditResult.BAD_REQUEST,
}


@dataclass(slots=True)
class Attempt:
    """What the handler found out, for the audit line written when it ends."""

    action: str
    """``search``, ``view``, ``play``, ``export``..."""
    target: str
    """What was asked for (never the token)."""
    actor: Actor = ANONYMOUS
    """Who, once the token is verified."""
    claims: Claims | None = None
    """The verified token."""
    reason: str = ""
    """Why, as the user stated it."""
    sites: list[str] = field(default_factory=list)
    """Sites of the target, so their administrators find the line."""
    result: AuditResult | None = None
    """Set by the handler to record a refusal it answers without an exception."""
    detail: str = ""
    """Error code or extra facts."""

    def authenticate(self, request: web.Request) -> Claims:
        claims = authenticate(request)
        self.claims = claims
        self.actor = Actor(
            claims.subject or f"{claims.role}@{claims.site}", str(claims.role), claims.site
        )
        return claims


Handler = Callable[[web.Request, Attempt], Awaitable[web.StreamResponse]]


def name_param(request: web.Request, key: str) -> str:
    """A path parameter that must be a plain name (no path tricks)."""
    try:
        return check_name(request.match_info[key])
    except StorageError as exc:
        raise bad(exc.code, f"{key}: {exc}") from None


def audited(
    action: str,
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Write one audit line per request: who, what, when, why, and how it ended."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            attempt = Attempt(action, request.path)
            try:
                response = await handler(request, attempt)
            except web.HTTPException as exc:
                attempt.result = attempt.result or RESULTS.get(exc.status, AuditResult.FAILED)
                attempt.detail = attempt.detail or _error_code(exc)
                await _write(request, attempt)
                raise
            except Exception:
                attempt.result = AuditResult.FAILED
                await _write(request, attempt)
                raise
            await _write(request, attempt)
            return response

        return run

    return wrap


def _error_code(exc: web.HTTPException) -> str:
    try:
        return str(json.loads(exc.text or "{}")["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return exc.reason


async def _write(request: web.Request, attempt: Attempt) -> None:
    audit = request.app[ARCHIVE].audit
    try:
        await asyncio.to_thread(
            audit.append,
            attempt.actor,
            attempt.action,
            attempt.target,
            attempt.result or AuditResult.OK,
            reason=attempt.reason,
            detail=attempt.detail,
            sites=attempt.sites,
        )
    except Exception:
        # An unwritable audit log must be loud; the request has already been answered.
        logger.exception("audit write failed for %s %s", attempt.action, attempt.target)
        raise
