"""Typed application state (aiohttp ``AppKey``s); no module globals elsewhere."""

from __future__ import annotations

import socketio
from aiohttp import web

from bridge.relay import Relay
from config.settings import Settings
from core.sessions import Directory
from sessions.lifecycle import Lifecycle
from sessions.store import Store

SETTINGS = web.AppKey("settings", Settings)
SECRET = web.AppKey("secret", str)
SIO = web.AppKey("sio", socketio.AsyncServer)
DIRECTORY = web.AppKey("directory", Directory)
RELAY = web.AppKey("relay", Relay)
"""Every live session's hub in this process (the boards REST markers go onto)."""
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
"""The one owner of sessions' lives: REST open/close/cancel go through it."""
STORE = web.AppKey("schedule_store", Store)
"""The scheduler's store: sites, rules, sessions (every part may read the site tree)."""
OPENAPI = web.AppKey("openapi", dict)
"""The whole OpenAPI document served at /api/openapi.json (``web.app.openapi_document``)."""
