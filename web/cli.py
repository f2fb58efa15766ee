"""``reception-bridge`` command line: serve, token."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta

from aiohttp import web

from config.settings import SettingsError, load_settings
from signaling.tokens import Role, issue_token
from web.app import create_app


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reception-bridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the server")
    serve.set_defaults(func=_cmd_serve)
    token = sub.add_parser("token", help="print a signed token for local trials")
    token.add_argument("--site", required=True, help="site id, e.g. tw-hanoi")
    token.add_argument("--role", required=True, choices=[str(r) for r in Role])
    token.add_argument("--session", help="reception session id (needed for the media path)")
    token.add_argument("--subject", help="who the bearer is, for the audit log")
    token.add_argument("--hours", type=float, default=24.0, help="validity in hours (default 24)")
    token.set_defaults(func=_cmd_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
