"""The monthly report for 34 provinces over 100,000 book entries: SQL against Python.

    python -m bench.reports [--entries 100000] [--repeat 3]

Issue 11: the monthly report (per province, with the previous month beside it) is
counted in SQL (:func:`book.reports.report`, three grouped queries per month). The
baseline, in the same run and on the same data, reads every entry's current version
row by row and counts in Python. The database is PostgreSQL when ``DATABASE_URL``
points to one (in a schema of its own, dropped after), else a SQLite file in a
temporary folder. Prints one JSON object: ``entries``, ``database``,
``report_seconds`` (best of ``--repeat``), ``baseline_seconds``, ``matches`` (the two
agree on every province and figure) and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, select, text

from book.db import BRANCH
from book.models import Entry, Version
from book.reports import Counts, Period, period_bounds, previous_bounds, report
from book.values import Channel, Kind, Outcome
from core.db import make_engine, migrate

PROVINCES = 34
SITES_PER_PROVINCE = 4
MONTH = date(2026, 3, 15)
BATCH = 5000


def _database() -> tuple[Engine, str, Any]:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        schema = f"bench_bk_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in url else "?"
        engine = make_engine(f"{url}{sep}options=-csearch_path%3D{schema}")

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        return engine, "postgresql", drop
    folder = tempfile.TemporaryDirectory(prefix="bench-book-")
    engine = make_engine(f"sqlite:///{Path(folder.name) / 'book.sqlite3'}")
    return engine, "sqlite", folder.cleanup


def _fill(engine: Engine, count: int, seed: int) -> None:
    rng = random.Random(seed)
    now = datetime(2026, 7, 1, tzinfo=UTC)
    numbers: dict[tuple[str, int], int] = {}
    kinds, channels = list(Kind), list(Channel)
    outcomes: list[Outcome | None] = [*Outcome, None]
    first = date(2026, 1, 1)
    entries: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(insert(Entry), entries)
            conn.execute(insert(Version), versions)
        entries.clear()
        versions.clear()

    for n in range(1, count + 1):
        province = f"tinh-{rng.randrange(PROVINCES):02d}"
        site = f"{province}-s{rng.randrange(SITES_PER_PROVINCE)}"
        received = first + timedelta(days=rng.randrange(181))
        key = (site, received.year)
        numbers[key] = numbers.get(key, 0) + 1
        people = 1 if rng.random() < 0.8 else rng.randint(2, 30)
        outcome = rng.choice(outcomes)
        resolved = received + timedelta(days=rng.randint(5, 60)) if rng.random() < 0.4 else None
        channel = rng.choice(channels)
        entries.append(
            {
                "id": n,
                "site": site,
                "province": province,
                "year": received.year,
                "number": numbers[key],
                "created_at": now,
                "created_by": "bench",
                "current_id": n,
            }
        )
        versions.append(
            {
                "id": n,
                "entry_id": n,
                "version": 1,
                "at": now,
                "by": "bench",
                "note": "",
                "received_on": received,
                "kind": str(rng.choice(kinds)),
                "channel": str(channel),
                "outcome": None if outcome is None else str(outcome),
                "forwarded_to": "",
                "refusal_reason": None,
                "persons": [{"name": "Công dân", "address": "", "id_number": ""}],
                "people_count": people,
                "crowd": people >= 5,
                "representatives": [],
                "summary": "",
                "session_id": "s" if channel is Channel.ONLINE else "",
                "recording_marker": "",
                "prior_bodies": [],
                "official": "",
                "complex": False,
                "status": "resolved" if resolved else "open",
                "resolved_on": resolved,
                "deadline": None,
                "deadline_rule": "",
            }
        )
        if len(entries) >= BATCH:
            flush()
    if entries:
        flush()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE bk_entries"))
            conn.execute(text("ANALYZE bk_versions"))


def _baseline(engine: Engine) -> dict[str, dict[str, Counts]]:
    """Every current version read and counted one row at a time, both months."""
    months = {
        "current": period_bounds(Period.MONTHLY, MONTH),
        "previous": previous_bounds(Period.MONTHLY, period_bounds(Period.MONTHLY, MONTH)[0]),
    }
    out: dict[str, dict[str, Counts]] = {name: {} for name in months}
    query = select(
        Entry.province,
        Version.received_on,
        Version.people_count,
        Version.crowd,
        Version.channel,
        Version.kind,
        Version.outcome,
        Version.resolved_on,
    ).join(Version, Version.id == Entry.current_id)
    with engine.connect() as conn:
        for province, received, people, crowd, channel, kind, outcome, resolved in conn.execute(
            query
        ):
            for name, (start, end) in months.items():
                if start <= received <= end:
                    c = out[name].setdefault(province, Counts())
                    c.entries += 1
                    c.people += people
                    c.crowd += bool(crowd)
                    c.online += channel == "online"
                    c.by_kind[kind] += 1
                    c.by_outcome["pending" if outcome is None else outcome] += 1
                if resolved is not None and start <= resolved <= end:
                    out[name].setdefault(province, Counts()).resolved += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    engine, database, cleanup = _database()
    try:
        migrate(engine, [BRANCH])
        started = time.perf_counter()
        _fill(engine, args.entries, args.seed)
        fill_seconds = time.perf_counter() - started
        load_before = [round(x, 2) for x in os.getloadavg()]
        timings: list[float] = []
        result = None
        for _ in range(max(1, args.repeat)):
            started = time.perf_counter()
            result = report(engine, Period.MONTHLY, MONTH)
            timings.append(time.perf_counter() - started)
        assert result is not None and result.previous is not None
        started = time.perf_counter()
        baseline = _baseline(engine)
        baseline_seconds = time.perf_counter() - started

        def rows(counts: dict[str, Counts]) -> dict[str, Any]:
            return {k: v.as_dict() for k, v in sorted(counts.items())}

        matches = rows(result.rows) == rows(baseline["current"]) and rows(result.previous) == rows(
            baseline["previous"]
        )
        print(
            json.dumps(
                {
                    "entries": args.entries,
                    "database": database,
                    "provinces": len(result.rows),
                    "month": result.start.isoformat()[:7],
                    "entries_in_month": result.total().entries,
                    "entries_in_previous_month": result.total(previous=True).entries,
                    "report_seconds": round(min(timings), 4),
                    "report_seconds_all": [round(t, 4) for t in timings],
                    "baseline_seconds": round(baseline_seconds, 4),
                    "matches": matches,
                    "fill_seconds": round(fill_seconds, 1),
                    "load_average_before": load_before,
                    "load_average_after": [round(x, 2) for x in os.getloadavg()],
                },
                ensure_ascii=False,
            )
        )
    finally:
        engine.dispose()
        cleanup()


if __name__ == "__main__":
    main()
