"""The site tree: loading it from TOML, changing it, and who may touch which part.

A scheduler acts for one province: a token's site (the province itself, one of its
communes or departments) limits them to that province's subtree. Central sites are not
limited.
"""

from __future__ import annotations

import logging
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from sessions.errors import Refusal, ScheduleError, forbidden, invalid
from sessions.models import Room, Site, SiteLevel
from sessions.requests import SiteInput
from sessions.views import SiteView

logger = logging.getLogger(__name__)

Scope = frozenset[str] | None
"""Site ids a caller may touch; None means every site."""

DEFAULT_TREE = Path(__file__).resolve().parent.parent / "config" / "sites.toml"

ALLOWED_PARENTS: dict[SiteLevel, frozenset[SiteLevel | None]] = {
    SiteLevel.CENTRAL: frozenset({None, SiteLevel.CENTRAL}),
    SiteLevel.PROVINCE: frozenset({None, SiteLevel.CENTRAL}),
    SiteLevel.DISTRICT: frozenset({SiteLevel.PROVINCE}),
    SiteLevel.COMMUNE: frozenset({SiteLevel.PROVINCE, SiteLevel.DISTRICT}),
    SiteLevel.DEPARTMENT: frozenset({SiteLevel.PROVINCE, SiteLevel.CENTRAL}),
}


def _date(raw: Any, where: str) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise invalid("bad_date", f"{where}: not a date (YYYY-MM-DD): {raw!r}") from None


def parse_tree(raw: dict[str, Any], source: str = "site tree") -> list[SiteInput]:
    """Sites from a parsed TOML document (``[[site]]`` tables)."""
    entries = raw.get("site")
    if not isinstance(entries, list) or not entries:
        raise invalid("empty_tree", f"{source} has no [[site]] entries")
    out = []
    for n, entry in enumerate(entries, 1):
        where = f"{source}, site #{n}"
        if not isinstance(entry, dict):
            raise invalid("bad_site", f"{where} is not a table")
        try:
            level = SiteLevel(str(entry.get("level", "")))
        except ValueError:
            raise invalid("bad_level", f"{where}: unknown level {entry.get('level')!r}") from None
        rooms = entry.get("rooms", [])
        if not isinstance(rooms, list):
            raise invalid("bad_rooms", f"{where}: rooms must be a list of names")
        out.append(
            SiteInput(
                id=str(entry.get("id", "")),
                name=str(entry.get("name", "")),
                level=level,
                parent_id=entry.get("parent"),
                name_en=str(entry.get("name_en", "")),
                valid_from=_date(entry.get("valid_from"), where),
                valid_to=_date(entry.get("valid_to"), where),
                merged_into_id=entry.get("merged_into"),
                address=str(entry.get("address", "")),
                rooms=tuple(str(r) for r in rooms),
            )
        )
    return out


class TreeSyntaxError(ScheduleError):
    """A site tree that is not TOML: ``bad_toml``, with the parser's line and column
    (1-based; None when the parser names no place, e.g. at the end of the document)."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(Refusal.INVALID, "bad_toml", message)
        self.line = line
        self.column = column


_PLACE = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_tree_text(text: str, source: str = "site tree") -> list[SiteInput]:
    """Sites from a TOML document given as text (the format of ``config/sites.toml``)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _PLACE.search(str(exc))
        line, column = (int(found[1]), int(found[2])) if found else (None, None)
        raise TreeSyntaxError(f"{source} is not valid TOML: {exc}", line, column) from None
    return parse_tree(raw, source)


def decode_tree(data: bytes, source: str = "site tree") -> str:
    """A TOML document's bytes as text (TOML is UTF-8; a byte-order mark is allowed)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TreeSyntaxError(
            f"{source} is not UTF-8 (byte {exc.start + 1} of the file)", None, None
        ) from None


def read_tree_file(path: Path) -> list[SiteInput]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise invalid("no_file", f"site tree file not found: {path}") from None
    return parse_tree_text(decode_tree(data, str(path)), str(path))


def subtree(db: DB, root: str) -> frozenset[str]:
    """``root`` and every site below it."""
    rows = db.execute(select(Site.id, Site.parent_id)).all()
    children: dict[str, list[str]] = {}
    for site_id, parent in rows:
        if parent is not None:
            children.setdefault(parent, []).append(site_id)
    out = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in out:
                out.add(child)
                stack.append(child)
    return frozenset(out)


def ancestors(db: DB, site_id: str) -> list[Site]:
    """The site and its parents, nearest first."""
    chain: list[Site] = []
    seen: set[str] = set()
    current = db.get(Site, site_id)
    while current is not None and current.id not in seen:
        chain.append(current)
        seen.add(current.id)
        current = db.get(Site, current.parent_id) if current.parent_id else None
    return chain


def scope_root(db: DB, site_id: str) -> str | None:
    """The site whose subtree ``site_id`` acts on: None for a central office (every
    site), else the first province above it (itself included), else the top of its tree.

    The one scope rule: :func:`scope_for` and ``GET /api/me`` (the pages) both use it."""
    chain = ancestors(db, site_id)
    if not chain:
        raise forbidden("unknown_token_site", f"the token's site {site_id} does not exist")
    if chain[0].level is SiteLevel.CENTRAL:
        return None
    for site in chain:
        if site.level is SiteLevel.PROVINCE:
            return site.id
    return chain[-1].id


def scope_for(db: DB, site_id: str) -> Scope:
    """What a scheduler acting for ``site_id`` may touch (None: everything)."""
    root = scope_root(db, site_id)
    return None if root is None else subtree(db, root)


def outside_scope(scope: Scope, site_ids: frozenset[str] | set[str]) -> list[str]:
    """The sites of ``site_ids`` the scope does not cover, sorted."""
    return [] if scope is None else sorted(set(site_ids) - scope)


def scope_refusal(outside: list[str]) -> ScheduleError:
    return forbidden(
        "outside_scope",
        f"site(s) {', '.join(outside)} are outside the province this token acts for",
    )


def check_scope(scope: Scope, site_ids: frozenset[str] | set[str]) -> None:
    outside = outside_scope(scope, site_ids)
    if outside:
        raise scope_refusal(outside)


def put_sites(db: DB, inputs: list[SiteInput], scope: Scope) -> list[Site]:
    """Create or replace sites (any order in ``inputs``); rooms are added, not removed.

    With a ``scope`` (a provincial administrator or scheduler), every site replaced,
    every parent and every ``merged_into`` named must be in it; a new site may be added
    below a site of the scope. The top tiers stay the centre's (DOMAIN.md: 34 provinces
    and cities, then communes and wards): no site becomes, or stops being, a central
    office or a province, so nobody widens their own scope."""
    ids = [s.id for s in inputs]
    if len(set(ids)) != len(ids):
        raise invalid("duplicate_site", "a site id is listed twice")
    known = {s.id: s for s in inputs}
    for item in inputs:
        for link, what in ((item.parent_id, "parent"), (item.merged_into_id, "merged_into")):
            if link is not None and link not in known and db.get(Site, link) is None:
                raise invalid("unknown_site", f"site {item.id}: {what} {link} does not exist")
    grown = _with_new_children(db, scope, inputs)
    check_scope(
        grown,
        {i.id for i in inputs}
        | {i.parent_id for i in inputs if i.parent_id}
        | {i.merged_into_id for i in inputs if i.merged_into_id},
    )
    if scope is not None:
        _keep_top_tiers(db, inputs)
    rows = []
    for item in inputs:
        row = db.get(Site, item.id) or Site(id=item.id)
        row.name, row.name_en, row.level = item.name, item.name_en, item.level
        row.valid_from, row.valid_to, row.address = item.valid_from, item.valid_to, item.address
        row.parent_id, row.merged_into_id = None, None
        db.add(row)
        rows.append(row)
    db.flush()
    for item, row in zip(inputs, rows, strict=True):
        row.parent_id, row.merged_into_id = item.parent_id, item.merged_into_id
        have = {r.name for r in row.rooms}
        row.rooms.extend(Room(name=name) for name in item.rooms if name not in have)
    db.flush()
    for row in rows:
        _check_place(db, row)
    return rows


TOP_TIERS = frozenset({SiteLevel.CENTRAL, SiteLevel.PROVINCE})


def _keep_top_tiers(db: DB, inputs: list[SiteInput]) -> None:
    """A scoped caller makes no central office or province, and unmakes none: a
    province turned central would give its people every site."""
    for item in inputs:
        row = db.get(Site, item.id)
        before = row.level if row is not None else None
        if item.level != before and (item.level in TOP_TIERS or before in TOP_TIERS):
            raise forbidden(
                "top_tier_outside_scope",
                f"site {item.id}: only a central administrator or scheduler may make or "
                f"change a central office or a province ({before or 'new'} -> {item.level})",
            )


def _with_new_children(db: DB, scope: Scope, inputs: list[SiteInput]) -> Scope:
    """``scope`` and the new sites of ``inputs`` that would hang below it (directly or
    under another such new site): a province's new commune is the province's to add."""
    if scope is None:
        return None
    new = {i.id: i.parent_id for i in inputs if db.get(Site, i.id) is None}
    grown = set(scope)
    added = True
    while added:
        added = False
        for site_id, parent in new.items():
            if site_id not in grown and parent is not None and parent in grown:
                grown.add(site_id)
                added = True
    return frozenset(grown)


def _check_place(db: DB, row: Site) -> None:
    chain = ancestors(db, row.id)
    top = chain[-1]
    if top.parent_id is not None:
        raise invalid("site_cycle", f"site {row.id}: its parents form a cycle")
    parent = db.get(Site, row.parent_id) if row.parent_id else None
    parent_level = parent.level if parent else None
    if parent_level not in ALLOWED_PARENTS[row.level]:
        raise invalid(
            "bad_parent",
            f"site {row.id} ({row.level}) cannot sit under "
            f"{parent.id + ' (' + parent.level + ')' if parent else 'nothing'}",
        )


def as_views(rows: list[Site]) -> list[SiteView]:
    return [SiteView.of(r) for r in rows]
