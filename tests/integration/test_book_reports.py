"""Every report's counts equal the book's rows under the same filter (hypothesis), on SQLite
and PostgreSQL.

Each example writes a random book (entries, some edited afterwards, watch-list items and
changes) under provinces of its own, then compares the daily, monthly (with the previous
month) and quarterly reports against a count over what it wrote, filtered by hand.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from book.reports import Counts, Period, SessionCounts, period_bounds, report
from book.values import (
    Channel,
    EntryInput,
    Kind,
    Outcome,
    Person,
    RefusalReason,
    Status,
)
from book.watch import WatchChange, WatchKind, WatchList, WatchStatus
from tests.integration.book_support import book_engine, make_store

__all__ = ["book_engine"]

FIRST = date(2026, 1, 1)
DAYS = 150
RUN = itertools.count()


@dataclass(frozen=True)
class Draw:
    province: int
    site: int
    day: int
    kind: Kind
    channel: Channel
    people: int
    outcome: Outcome | None
    resolved_after: int | None


draws = st.builds(
    Draw,
    province=st.integers(0, 2),
    site=st.integers(0, 1),
    day=st.integers(0, DAYS),
    kind=st.sampled_from(Kind),
    channel=st.sampled_from(Channel),
    people=st.integers(1, 12),
    outcome=st.none() | st.sampled_from(Outcome),
    resolved_after=st.none() | st.integers(0, 40),
)
watch_draws = st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(0, DAYS), st.booleans())


def _input(d: Draw, prefix: str) -> EntryInput:
    online = d.channel is Channel.ONLINE
    received = FIRST + timedelta(days=d.day)
    return EntryInput(
        received_on=received,
        site=f"{prefix}p{d.province}-s{d.site}",
        kind=d.kind,
        channel=d.channel,
        persons=(Person("Người được tiếp"),),
        people_count=d.people,
        session_id="s-1" if online else "",
        outcome=d.outcome,
        forwarded_to="Sở Tài nguyên" if d.outcome is Outcome.FORWARDED else "",
        refusal_reason=RefusalReason.ALREADY_SETTLED if d.outcome is Outcome.REFUSED else None,
        status=Status.OPEN if d.resolved_after is None else Status.RESOLVED,
        resolved_on=None if d.resolved_after is None else received + timedelta(d.resolved_after),
    )


def _by_hand(
    entries: list[EntryInput],
    watch_days: list[tuple[str, str, date]],
    start: date,
    end: date,
    key: Callable[[str], str],
    sessions: dict[str, SessionCounts],
) -> dict[str, Counts]:
    rows: dict[str, Counts] = {}
    for e in entries:
        if start <= e.received_on <= end:
            c = rows.setdefault(key(e.site), Counts())
            c.entries += 1
            c.people += e.people_count
            c.crowd += e.people_count >= 5
            c.online += e.channel is Channel.ONLINE
            c.by_kind[str(e.kind)] += 1
            c.by_outcome["pending" if e.outcome is None else str(e.outcome)] += 1
    for e in entries:
        if e.resolved_on is not None and start <= e.resolved_on <= end:
            rows.setdefault(key(e.site), Counts()).resolved += 1
    for site, _province, day in watch_days:
        if start <= day <= end:
            rows.setdefault(key(site), Counts()).watch_changes += 1
    for group, s in sessions.items():
        row = rows.setdefault(group, Counts())
        row.sessions_held, row.online_links = s.held, s.online_links
    return rows


def _as_dicts(rows: dict[str, Counts]) -> dict[str, object]:
    return {k: v.as_dict() for k, v in rows.items()}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    book=st.lists(draws, max_size=25),
    edits=st.lists(st.tuples(st.integers(0, 24), draws), max_size=6),
    watch=st.lists(watch_draws, max_size=6),
    held=st.integers(0, 5),
    when=st.integers(0, DAYS),
)
def test_reports_count_what_the_book_holds(
    book_engine: Engine,
    book: list[Draw],
    edits: list[tuple[int, Draw]],
    watch: list[tuple[int, int, int, bool]],
    held: int,
    when: int,
) -> None:
    prefix = f"r{next(RUN)}"
    store = make_store(book_engine)
    at = [datetime(2026, 1, 1, tzinfo=UTC)]
    store.clock = lambda: at[0]
    written = [store.create(_input(d, prefix), by="clerk") for d in book]
    final = {e.id: e.data for e in written}
    for index, draw in edits:
        if index < len(written):
            target = written[index]
            # An edit keeps the site; everything else may change.
            changed = replace(_input(draw, prefix), site=target.data.site)
            final[target.id] = store.edit(target.id, changed, by="clerk2").data
    watch_days: list[tuple[str, str, date]] = []
    watch_list = WatchList(store)
    for p_index, site, offset, update in watch:
        site_id = f"{prefix}p{p_index}-s{site}"
        opened = FIRST + timedelta(days=offset)
        # 23:30 in Vietnam is 16:30 UTC the same day: the report counts Vietnamese days.
        at[0] = datetime.combine(opened, time(16, 30), UTC)
        item = watch_list.add(site=site_id, kind=WatchKind.COMPLEX, title="Vụ việc", by="c")
        watch_days.append((site_id, f"{prefix}p{p_index}", opened))
        if update:
            at[0] = datetime.combine(opened + timedelta(days=1), time(17, 30), UTC)
            watch_list.update(item.id, WatchChange(status=WatchStatus.DIALOGUE), by="c")
            # 17:30 UTC is 00:30 the next day in Vietnam: two days after opening.
            watch_days.append((site_id, f"{prefix}p{p_index}", opened + timedelta(days=2)))

    entries = list(final.values())
    provinces = {f"{prefix}p{n}" for n in range(3)}
    sessions = {f"{prefix}p0": SessionCounts(held, held * 2)}
    day = FIRST + timedelta(days=when)

    def province(site: str) -> str:
        return site.split("-s", 1)[0]

    for period in Period:
        got = report(
            book_engine,
            period,
            day,
            provinces=provinces,
            sessions=sessions if period is not Period.DAILY else None,
            previous_sessions={},
        )
        start, end = period_bounds(period, day)
        if period is Period.DAILY:
            expected = _by_hand(entries, watch_days, start, end, lambda s: s, {})
        else:
            expected = _by_hand(entries, watch_days, start, end, province, sessions)
        assert _as_dicts(got.rows) == _as_dicts(expected), period
        if period is Period.MONTHLY:
            assert got.previous is not None and got.previous_start is not None
            p_end = start - timedelta(days=1)
            assert got.previous_start == p_end.replace(day=1)
            before = _by_hand(entries, watch_days, got.previous_start, p_end, province, {})
            assert _as_dicts(got.previous) == _as_dicts(before)
    # The same counts without a province filter contain ours unchanged (others' are apart).
    everything = report(book_engine, Period.QUARTERLY, day)
    mine = report(book_engine, Period.QUARTERLY, day, provinces=provinces)
    assert {k: v for k, v in everything.rows.items() if k in provinces} == mine.rows
