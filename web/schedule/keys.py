"""Typed app state of the scheduler's routes."""

from __future__ import annotations

from aiohttp import web

from sessions.store import Store

STORE = web.AppKey("schedule_store", Store)
