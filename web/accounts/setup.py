"""Wiring sign-in into the app: the accounts service, its middleware and routes."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import Engine

from accounts.service import Accounts
from web.accounts import api, pages
from web.accounts.keys import ACCOUNTS
from web.accounts.middleware import signin_middleware


def setup_accounts(app: web.Application, engine: Engine) -> Accounts:
    """Register sign-in on ``app`` (before it starts); the tables come with the app's
    migration (``web.database``)."""
    accounts = Accounts(engine)
    app[ACCOUNTS] = accounts
    app.middlewares.append(signin_middleware(accounts))
    app.router.add_routes(api.routes)
    app.router.add_routes(pages.routes)
    return accounts
