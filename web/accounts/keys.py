"""Typed app state of sign-in."""

from __future__ import annotations

from aiohttp import web

from accounts.service import Accounts

ACCOUNTS = web.AppKey("accounts", Accounts)
