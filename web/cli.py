"""``reception-bridge`` command line: serve, token, migrate, load-sites."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from config.settings import SettingsError, load_settings
from core.access import Role
from sessions.errors import ScheduleError
from sessions.sitetree import DEFAULT_TREE
from signaling.tokens import issue_token
from web.app import create_app
from web.archive.setup import verify_command
from web.database import migrate_all
from web.demo import prepare_demo
from web.schedule.setup import make_store


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.demo:
        store = make_store(settings.effective_database_url)
        try:
            demo = prepare_demo(settings, store)
        finally:
            store.engine.dispose()
        print(f"demo session {demo.session.id}: {demo.session.title}", flush=True)
        print("links (tokens valid for a day):", flush=True)
        for label, url in demo.links:
            print(f"  {label}: {url}", flush=True)
    app = create_app(settings)
    print(f"reception-bridge listening on {settings.base_url}", flush=True)
    web.run_app(app, host=settings.host, port=settings.port, print=None)
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    settings = load_settings()
    token = issue_token(
        settings.signing_secret(),
        role=Role(args.role),
        site=args.site,
        session=args.session,
        subject=args.subject or f"{args.role}@{args.site}",
        ttl=timedelta(hours=args.hours),
    )
    print(token)
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    migrate_all(settings.effective_database_url)
    print("database is up to date", flush=True)
    return 0


def _cmd_load_sites(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = make_store(settings.effective_database_url)
    try:
        migrate_all(store.engine)
        count = store.load_tree(Path(args.file))
    finally:
        store.engine.dispose()
    print(f"loaded {count} sites from {args.file}", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reception-bridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the server")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="prepare the database, open a demo session and print links with tokens",
    )
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
    verify.set_defaults(func=verify_command)
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
    return result


if __name__ == "__main__":
    raise SystemExit(main())
