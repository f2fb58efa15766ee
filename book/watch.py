"""The watch list: crowd delegations and complex, prolonged cases per area.

Each item has an assigned official, a status, the next dialogue date and a deadline;
every change is a line of its history (``bk_watch_events``, append-only). A province
sees its own items, the central office sees all (the web layer passes the scope).
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from book.models import Entry, WatchEvent, WatchItem
from book.store import BookStore
from book.values import BookError, invalid


class WatchKind(enum.StrEnum):
    CROWD = "crowd"
    """Đoàn đông người."""
    COMPLEX = "complex"
    """Vụ việc phức tạp, kéo dài."""


class WatchStatus(enum.StrEnum):
    FOLLOWING = "following"
    """Đang theo dõi."""
    DIALOGUE = "dialogue"
    """Đang đối thoại."""
    RESOLVED = "resolved"
    """Đã giải quyết dứt điểm."""
    CLOSED = "closed"
    """Thôi theo dõi."""


@dataclass(frozen=True, slots=True)
class WatchChange:
    """What an update sets; None leaves a field as it is."""

    official: str | None = None
    status: WatchStatus | None = None
    next_dialogue: date | None = None
    deadline: date | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class HistoryLine:
    at: datetime
    by: str
    change: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "by": self.by,
            "change": self.change,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class WatchView:
    id: int
    site: str
    province: str
    kind: WatchKind
    title: str
    entry_id: int | None
    people_count: int
    official: str
    status: WatchStatus
    next_dialogue: date | None
    deadline: date | None
    history: tuple[HistoryLine, ...]

    def overdue(self, today: date) -> bool:
        return (
            self.deadline is not None
            and self.deadline < today
            and self.status not in (WatchStatus.RESOLVED, WatchStatus.CLOSED)
        )

    def as_dict(self, today: date) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "province": self.province,
            "kind": str(self.kind),
            "title": self.title,
            "entry_id": self.entry_id,
            "people_count": self.people_count,
            "official": self.official,
            "status": str(self.status),
            "next_dialogue": None if self.next_dialogue is None else self.next_dialogue.isoformat(),
            "deadline": None if self.deadline is None else self.deadline.isoformat(),
            "overdue": self.overdue(today),
            "history": [h.as_dict() for h in self.history],
        }


def _view(item: WatchItem, events: list[WatchEvent]) -> WatchView:
    return WatchView(
        id=item.id,
        site=item.site,
        province=item.province,
        kind=WatchKind(item.kind),
        title=item.title,
        entry_id=item.entry_id,
        people_count=item.people_count,
        official=item.official,
        status=WatchStatus(item.status),
        next_dialogue=item.next_dialogue,
        deadline=item.deadline,
        history=tuple(HistoryLine(e.at, e.by, e.change, e.detail) for e in events),
    )


class WatchList:
    """Items of the watch list and their history, on the book's database."""

    def __init__(self, store: BookStore) -> None:
        self.store = store

    def add(
        self,
        *,
        site: str,
        kind: WatchKind,
        title: str,
        by: str,
        official: str = "",
        people_count: int = 0,
        entry_id: int | None = None,
        next_dialogue: date | None = None,
        deadline: date | None = None,
    ) -> WatchView:
        title = title.strip()
        if not title or len(title) > 300:
            raise invalid("bad_title", "a watch item needs a title of at most 300 characters")
        if kind is WatchKind.CROWD and people_count < 5:
            raise invalid("not_a_crowd", "a crowd delegation has 5 or more people")
        if not 0 <= people_count <= 100_000 or len(official) > 200:
            raise invalid("bad_field", "people 0-100000, official at most 200 characters")
        province = self.store.province_of(site)
        with self.store.write() as db:
            if entry_id is not None:
                entry = db.get(Entry, entry_id)
                if entry is None or entry.site != site:
                    raise BookError("invalid", "entry_elsewhere", "the entry is not of this site")
            item = WatchItem(
                site=site,
                province=province,
                kind=str(kind),
                title=title,
                entry_id=entry_id,
                people_count=people_count,
                official=official,
                status=str(WatchStatus.FOLLOWING),
                next_dialogue=next_dialogue,
                deadline=deadline,
                created_at=self.store.clock(),
                created_by=by[:200],
            )
            db.add(item)
            db.flush()
            event = WatchEvent(
                watch_id=item.id, at=item.created_at, by=by[:200], change="opened", detail=title
            )
            db.add(event)
            return _view(item, [event])

    def update(self, item_id: int, change: WatchChange, *, by: str) -> WatchView:
        if change.official is not None and len(change.official) > 200:
            raise invalid("bad_field", "official at most 200 characters")
        if len(change.note) > 2000:
            raise invalid("bad_field", "a note has at most 2000 characters")
        with self.store.write() as db:
            item = db.scalars(
                select(WatchItem).where(WatchItem.id == item_id).with_for_update()
            ).first()
            if item is None:
                raise BookError("not_found", "no_watch_item", f"no watch item {item_id}")
            now = self.store.clock()
            lines: list[tuple[str, str]] = []
            if change.official is not None and change.official != item.official:
                item.official = change.official
                lines.append(("official", change.official))
            if change.status is not None and str(change.status) != item.status:
                item.status = str(change.status)
                lines.append(("status", str(change.status)))
            if change.next_dialogue is not None and change.next_dialogue != item.next_dialogue:
                item.next_dialogue = change.next_dialogue
                lines.append(("next_dialogue", change.next_dialogue.isoformat()))
            if change.deadline is not None and change.deadline != item.deadline:
                item.deadline = change.deadline
                lines.append(("deadline", change.deadline.isoformat()))
            if change.note:
                lines.append(("note", change.note))
            if not lines:
                raise invalid("no_change", "the update changes nothing")
            for what, detail in lines:
                db.add(
                    WatchEvent(watch_id=item.id, at=now, by=by[:200], change=what, detail=detail)
                )
            db.flush()
            events = list(
                db.scalars(
                    select(WatchEvent).where(WatchEvent.watch_id == item.id).order_by(WatchEvent.id)
                )
            )
            return _view(item, events)

    def get(self, item_id: int) -> WatchView:
        with self.store.read() as db:
            item = db.get(WatchItem, item_id)
            if item is None:
                raise BookError("not_found", "no_watch_item", f"no watch item {item_id}")
            events = list(
                db.scalars(
                    select(WatchEvent).where(WatchEvent.watch_id == item.id).order_by(WatchEvent.id)
                )
            )
            return _view(item, events)

    def items(self, *, provinces: Collection[str] | None = None) -> list[WatchView]:
        """Items in scope (None: all), overdue and open ones first is the page's business."""
        query = select(WatchItem).order_by(WatchItem.province, WatchItem.id)
        if provinces is not None:
            query = query.where(WatchItem.province.in_(list(provinces)))
        with self.store.read() as db:
            items = list(db.scalars(query))
            ids = [i.id for i in items]
            events: dict[int, list[WatchEvent]] = {i: [] for i in ids}
            if ids:
                for e in db.scalars(
                    select(WatchEvent).where(WatchEvent.watch_id.in_(ids)).order_by(WatchEvent.id)
                ):
                    events[e.watch_id].append(e)
            return [_view(i, events[i.id]) for i in items]
