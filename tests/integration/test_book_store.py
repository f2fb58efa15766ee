"""The book on SQLite and PostgreSQL: migration, numbers, versions, the watch list."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

import book.models  # noqa: F401  (the bk_ tables on Base.metadata)
from book.models import AppendOnlyError, Version
from book.values import BookError, Channel, EntryInput, Kind, Outcome, Person, Status
from book.watch import WatchChange, WatchKind, WatchList, WatchStatus
from core.db import Base
from tests.integration.book_support import book_engine, make_store

__all__ = ["book_engine"]

ALICE = Person("Nguyễn Văn An", "Thôn Đông, xã Yên Dũng", "024090001234")


def entry(**changes: object) -> EntryInput:
    fields: dict[str, object] = {
        "received_on": date(2026, 2, 6),
        "site": "bacninh-s1",
        "kind": Kind.COMPLAINT,
        "channel": Channel.IN_PERSON,
        "persons": (ALICE,),
        "summary": "Khiếu nại về bồi thường khi thu hồi đất",
    }
    fields.update(changes)
    return EntryInput(**fields)  # type: ignore[arg-type]


def test_the_branch_matches_the_models(book_engine: Engine) -> None:
    with book_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert [d for d in diff if "bk_" in repr(d)] == []


def test_numbers_run_per_site_and_year_and_edits_add_versions(book_engine: Engine) -> None:
    store = make_store(book_engine)
    first = store.create(entry(), by="clerk1")
    second = store.create(entry(), by="clerk1")
    other_site = store.create(entry(site="bacninh-s2"), by="clerk2")
    next_year = store.create(entry(received_on=date(2027, 1, 5)), by="clerk1")
    assert [first.reference, second.reference] == ["1/2026", "2/2026"]
    assert other_site.reference == "1/2026" and next_year.reference == "1/2027"
    assert first.province == "bacninh" and first.deadline is None

    done = store.edit(
        first.id,
        entry(outcome=Outcome.GUIDED, official="Trần Thị Bình", note="hoàn thiện"),
        by="clerk2",
        expect_version=1,
    )
    # Guided on 6 Feb 2026: ten working days over Tết, 27 Feb (tests/unit/test_book_deadlines).
    assert done.version == 2 and done.deadline == date(2026, 2, 27)
    assert [v.by for v in done.versions] == ["clerk1", "clerk2"]
    assert store.version(first.id, 1).data.outcome is None
    assert store.get(first.id).data.official == "Trần Thị Bình"

    with pytest.raises(BookError) as stale:
        store.edit(first.id, entry(), by="clerk1", expect_version=1)
    assert stale.value.code == "stale_version"
    with pytest.raises(BookError) as moved:
        store.edit(first.id, entry(site="bacninh-s2"), by="clerk1")
    assert moved.value.code == "site_changed"
    assert store.get(first.id).version == 2  # nothing lost by the refusals


def test_versions_cannot_be_changed_in_code_or_in_the_database(book_engine: Engine) -> None:
    store = make_store(book_engine)
    made = store.create(entry(), by="clerk1")
    with store.write() as db, pytest.raises(AppendOnlyError):
        row = db.get(Version, made.id)
        assert row is not None
        row.summary = "sửa lén"
        db.flush()
    for statement in ("UPDATE bk_versions SET summary = 'x'", "DELETE FROM bk_versions"):
        with pytest.raises(DBAPIError, match="append-only"), book_engine.begin() as conn:
            conn.execute(text(statement))
    assert store.get(made.id).data.summary.startswith("Khiếu nại")


def test_racing_writers_get_distinct_numbers(book_engine: Engine) -> None:
    store = make_store(book_engine)
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: store.create(entry(), by="c"), range(12)))
    assert sorted(e.number for e in made) == list(range(1, 13))


def test_bad_entries_are_refused_with_a_code() -> None:
    cases: dict[str, dict[str, object]] = {
        "representatives_without_crowd": {"representatives": (ALICE,)},
        "online_without_session": {"channel": Channel.ONLINE},
        "forwarded_without_body": {"outcome": Outcome.FORWARDED},
        "refusal_reason": {"outcome": Outcome.REFUSED},
        "resolved_on": {"status": Status.RESOLVED},
        "no_person": {"persons": ()},
        "too_many_representatives": {"people_count": 8, "representatives": (ALICE,) * 3},
    }
    for code, change in cases.items():
        with pytest.raises(BookError) as refused:
            entry(**change)
        assert refused.value.code == code


def test_the_watch_list_keeps_history_and_scope(book_engine: Engine) -> None:
    store = make_store(book_engine)
    watch = WatchList(store)
    made = store.create(entry(people_count=12, representatives=(ALICE,)), by="clerk1")
    crowd = watch.add(
        site="bacninh-s1",
        kind=WatchKind.CROWD,
        title="Đoàn 12 hộ dân thôn Đông",
        people_count=12,
        entry_id=made.id,
        deadline=date(2026, 3, 1),
        by="clerk1",
    )
    watch.add(site="hanoi-s1", kind=WatchKind.COMPLEX, title="Tranh chấp đất kéo dài", by="c2")
    updated = watch.update(
        crowd.id,
        WatchChange(
            official="Lê Văn Cường", status=WatchStatus.DIALOGUE, next_dialogue=date(2026, 3, 10)
        ),
        by="lead",
    )
    assert [h.change for h in updated.history] == ["opened", "official", "status", "next_dialogue"]
    assert updated.overdue(date(2026, 3, 2)) and not updated.overdue(date(2026, 2, 28))
    assert [i.title for i in watch.items(provinces={"bacninh"})] == ["Đoàn 12 hộ dân thôn Đông"]
    assert len(watch.items()) == 2
    with pytest.raises(BookError) as small:
        watch.add(site="bacninh-s1", kind=WatchKind.CROWD, title="x", people_count=3, by="c")
    assert small.value.code == "not_a_crowd"
    with pytest.raises(BookError) as nothing:
        watch.update(crowd.id, WatchChange(), by="lead")
    assert nothing.value.code == "no_change"
