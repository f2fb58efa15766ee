"""Typed application state (aiohttp ``AppKey``s); no module globals elsewhere."""

from __future__ import annotations

import socketio
from aiohttp import web

from config.settings import Settings
from core.sessions import Directory

SETTINGS = web.AppKey("settings", Settings)
SECRET = web.AppKey("secret", str)
SIO = web.AppKey("sio", socketio.AsyncServer)
DIRECTORY = web.AppKey("directory", Directory)
