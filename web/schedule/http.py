"""Plumbing shared by the scheduler's routes: the store in a thread, refusals as HTTP
(through :func:`web.http.errors.refused`, the one mapping)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from aiohttp import web

from core.access import Claims, Role
from sessions.errors import ScheduleError
from sessions.sitetree import Scope
from web.http.auth import authenticate, require, token_from_request
from web.http.errors import refused
from web.keys import STORE

P = ParamSpec("P")
T = TypeVar("T")

STAFF = (Role.ADMINISTRATOR, Role.SCHEDULER, Role.OPERATOR)


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a refusal raised while reading input into its HTTP error."""
    try:
        yield
    except ScheduleError as exc:
        raise refused(exc) from None


async def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a synchronous store call in a worker thread; refusals become HTTP errors."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))
    except ScheduleError as exc:
        raise refused(exc) from None


async def scheduler_scope(request: web.Request) -> tuple[Claims, Scope]:
    """An administrator (everything) or a scheduler (their province's subtree)."""
    claims = require(request, (Role.ADMINISTRATOR, Role.SCHEDULER))
    if claims.role is Role.ADMINISTRATOR:
        return claims, None
    return claims, await run(request.app[STORE].scope_for, claims.site)


async def staff_scope(request: web.Request) -> tuple[Claims, Scope]:
    """As :func:`scheduler_scope`, and an operator acts for their own site only."""
    claims = require(request, STAFF)
    if claims.role is Role.OPERATOR:
        return claims, frozenset({claims.site})
    return await scheduler_scope(request)


def optional_claims(request: web.Request) -> Claims | None:
    """Claims when a token is given (401 if it is bad), None for the public."""
    if token_from_request(request) is None:
        return None
    return authenticate(request)
