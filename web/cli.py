"""``reception-bridge`` command line: serve, token, migrate, load-sites, user."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from accounts.errors import AccountError
from accounts.service import Accounts
from accounts.values import UserView
from config.settings import Settings, SettingsError, load_settings
from core.access import Role
from core.db import make_engine
from sessions.errors import ScheduleError
from sessions.sitetree import DEFAULT_TREE
from sessions.store import Store
from signaling.tokens import issue_token
from web.database import migrate_all

# The server (web.app: aiohttp, aiortc, PyAV...), the archive, the demo and the workers
# are imported by the commands that use them: `token`, `load-sites` and `user` start
# without loading the whole server (about 1.5 s of CPU each on the 2-core machine).


def _store(database_url: str) -> Store:
    return Store(make_engine(database_url))


def _cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from web.app import create_app
    from web.demo import prepare_demo
    from web.workers import run_workers

    settings = load_settings()
    workers = args.workers if args.workers is not None else settings.workers or None
    if workers is None:
        workers = (os.cpu_count() or 1) if settings.redis_url else 1
    if workers < 1:
        raise SettingsError(f"--workers must be 1 or more, got {workers}")
    if workers > 1 and not settings.redis_url:
        raise SettingsError("--workers above 1 needs REDIS_URL (the node registry)")
    if args.demo:
        store = _store(settings.effective_database_url)
        try:
            demo = prepare_demo(settings, store)
        finally:
            store.engine.dispose()
        print(f"demo session {demo.session.id}: {demo.session.title}", flush=True)
        print("links (tokens valid for a day):", flush=True)
        for label, url in demo.links:
            print(f"  {label}: {url}", flush=True)
        print("accounts (one-time passwords, to be changed at first sign-in):", flush=True)
        for name, what, password in demo.accounts:
            print(f"  {name} ({what}): {password}", flush=True)
    if workers > 1:
        print(f"reception-bridge: {workers} workers on {settings.base_url}", flush=True)
        return run_workers(settings, workers)
    if args.worker is not None:
        return _serve_worker(settings, args.worker)
    app = create_app(settings)
    print(f"reception-bridge listening on {settings.base_url}", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None)
    return 0


def _serve_worker(settings: Settings, index: int) -> int:
    """One worker of ``serve --workers N``: the shared entry port (SO_REUSEPORT) and the
    worker's own port, which it advertises (redirects send clients there)."""
    from aiohttp import web

    from web.app import create_app
    from web.workers import worker_port

    entry = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    entry.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    entry.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    entry.bind((settings.host, settings.port))
    own = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    own_port = worker_port(settings, index)
    own.bind((settings.host, own_port))
    app = create_app(settings)
    print(
        f"worker {index} listening on {settings.base_url} and {settings.advertised_url}",
        flush=True,
    )
    web.run_app(app, sock=[entry, own], print=None)
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    settings = load_settings()
    secret = settings.existing_secret()
    if secret is None:
        # Creating a secret here would print a token no running server accepts.
        raise SettingsError(
            f"no signing secret: RB_SECRET is not set and {settings.data_dir.resolve()}"
            " holds no secret.key. Run this command with the server's settings (from"
            " its folder, or with the same RB_DATA_DIR or RB_CONFIG), or set RB_SECRET"
            " to the server's secret; no token was printed"
        )
    token = issue_token(
        secret,
        role=Role(args.role),
        site=args.site,
        session=args.session,
        subject=args.subject or f"{args.role}@{args.site}",
        ttl=timedelta(hours=args.hours),
    )
    print(token)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from web.archive.setup import verify_command

    return verify_command(args)


def _cmd_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    migrate_all(settings.effective_database_url)
    print("database is up to date", flush=True)
    return 0


def _cmd_load_sites(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = _store(settings.effective_database_url)
    try:
        migrate_all(store.engine)
        count = store.load_tree(Path(args.file))
    finally:
        store.engine.dispose()
    print(f"loaded {count} sites from {args.file}", flush=True)
    return 0


@contextmanager
def _accounts() -> Iterator[tuple[Store, Accounts]]:
    """The scheduler's store (for the site tree) and the accounts, on a migrated database."""
    settings = load_settings()
    store = _store(settings.effective_database_url)
    try:
        migrate_all(store.engine)
        yield store, Accounts(store.engine)
    finally:
        store.engine.dispose()


def _cli_actor() -> str:
    """Who acts, for the account events log: the operating-system user at the console."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _status(user: UserView) -> str:
    if user.disabled:
        return "disabled"
    if user.locked_until is not None:
        return f"locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
    if user.must_change_password:
        return "one-time password"
    return "active"


def _cmd_user_add(args: argparse.Namespace) -> int:
    with _accounts() as (store, accounts):
        if store.get_site(args.site) is None:
            print(
                f"refused (unknown_site): no site {args.site!r} in the site tree", file=sys.stderr
            )
            return 1
        user, password = accounts.add_user(
            args.name, args.display_name or args.name, args.site, args.role, by=_cli_actor()
        )
    roles = ", ".join(sorted(user.roles))
    print(f"user {user.name} added at {user.site} ({roles})", flush=True)
    print(f"one-time password (shown once, to be changed at first sign-in): {password}", flush=True)
    return 0


def _cmd_user_disable(args: argparse.Namespace) -> int:
    with _accounts() as (_store, accounts):
        accounts.disable(args.name, by=_cli_actor())
    print(f"user {args.name} disabled; their sessions are ended", flush=True)
    return 0


def _cmd_user_enable(args: argparse.Namespace) -> int:
    with _accounts() as (_store, accounts):
        accounts.enable(args.name, by=_cli_actor())
    print(f"user {args.name} enabled", flush=True)
    return 0


def _cmd_user_reset_password(args: argparse.Namespace) -> int:
    with _accounts() as (_store, accounts):
        password = accounts.reset_password(args.name, by=_cli_actor())
    print(f"user {args.name}: sessions ended, account unlocked", flush=True)
    print(f"one-time password (shown once, to be changed at first sign-in): {password}", flush=True)
    return 0


def _cmd_user_list(args: argparse.Namespace) -> int:
    with _accounts() as (_store, accounts):
        users = accounts.list_users(args.site or None)
    for user in users:
        roles = ",".join(sorted(user.roles))
        print(f"{user.name}\t{user.site}\t{roles}\t{_status(user)}\t{user.display_name}")
    return 0


def _add_user_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="add, disable, enable, list users; reset a password")
    commands = user.add_subparsers(dest="user_command", required=True)
    add = commands.add_parser("add", help="add a user and print a one-time password")
    add.add_argument("name", help="user name: 3-64 lower-case letters, digits, '.', '_', '-'")
    add.add_argument("--site", required=True, help="the user's site id, e.g. tw-hanoi")
    add.add_argument(
        "--role",
        required=True,
        action="append",
        choices=[str(r) for r in Role if r is not Role.PUBLIC],
        help="a role; repeat for several",
    )
    add.add_argument("--display-name", help="the name shown on pages (default: the user name)")
    add.set_defaults(func=_cmd_user_add)
    for name, func, what in (
        ("disable", _cmd_user_disable, "refuse the user's sign-ins and end their sessions"),
        ("enable", _cmd_user_enable, "let a disabled user sign in again"),
        (
            "reset-password",
            _cmd_user_reset_password,
            "print a new one-time password, unlock and end the user's sessions",
        ),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument("name", help="user name")
        command.set_defaults(func=func)
    listing = commands.add_parser("list", help="list users (name, site, roles, status)")
    listing.add_argument("--site", action="append", help="only this site's users; repeatable")
    listing.set_defaults(func=_cmd_user_list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reception-bridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the server")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="prepare the database, open a demo session and print links with tokens",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="node processes to run (default: RB_WORKERS, else the cores with REDIS_URL, else 1)",
    )
    serve.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    serve.set_defaults(func=_cmd_serve)
    mig = sub.add_parser("migrate", help="bring the database schema up to date")
    mig.set_defaults(func=_cmd_migrate)
    load = sub.add_parser("load-sites", help="create or replace sites from a TOML file")
    load.add_argument(
        "file", nargs="?", default=str(DEFAULT_TREE), help="default: config/sites.toml"
    )
    load.set_defaults(func=_cmd_load_sites)
    token = sub.add_parser("token", help="print a signed token for local trials")
    token.add_argument("--site", required=True, help="site id, e.g. tw-hanoi")
    token.add_argument("--role", required=True, choices=[str(r) for r in Role])
    token.add_argument("--session", help="reception session id (needed for the media path)")
    token.add_argument("--subject", help="who the bearer is, for the audit log")
    token.add_argument("--hours", type=float, default=24.0, help="validity in hours (default 24)")
    token.set_defaults(func=_cmd_token)
    verify = sub.add_parser("verify", help="recompute the SHA-256 of every recorded file")
    verify.set_defaults(func=_cmd_verify)
    _add_user_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except ScheduleError as exc:
        print(f"refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    except AccountError as exc:
        print(f"refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    raise SystemExit(main())
