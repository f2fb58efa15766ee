"""Typed app state of the scheduler's routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from core.sessions import SessionInfo
from sessions.store import Store

SessionHook = Callable[[SessionInfo], Awaitable[None]]
"""Called after a session changes state (opened, closed, cancelled), with its new info."""

STORE = web.AppKey("schedule_store", Store)
SESSION_HOOKS = web.AppKey[list[SessionHook]]("session_state_hooks")
"""The media and recorder parts append here to react to a session opening or closing."""
