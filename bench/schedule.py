"""Scheduler benchmark; prints JSON.

1. One year of sessions from rules for 1,000 sites (office hours morning and afternoon
   on working days, plus a weekly or monthly head's reception), with the calendar
   arithmetic of ``sessions.rules`` against a naive loop that walks every day of the
   year for every rule (same dates checked), then the same rules written to a database
   through ``Store.generate``.
2. p50/p99 latency of the booking API (POST /api/sessions, each booking a room, so the
   conflict check and the write lock are on the path) under concurrent requests on
   loopback, against a plain static file from the same server in the same run.

Run: .venv/bin/python -m bench.schedule [--sites 1000] [--requests 400] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import gc
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time as clock
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import holidays

from core.access import Role
from core.db import make_engine, migrate
from sessions.calendar import WorkCalendar, local_instant
from sessions.db import BRANCH
from sessions.models import Frequency, RuleKind, SiteLevel
from sessions.requests import RuleRequest, SiteInput
from sessions.rules import RuleSpec, rule_days
from sessions.store import Store
from signaling.tokens import issue_token

YEAR = 2027
SECRET = "bench-secret-0123456789abcdef-0123456789"


def bench_rules(n_sites: int) -> list[list[RuleSpec]]:
    """Per site: morning and afternoon office hours, and the head's reception."""
    out = []
    for i in range(n_sites):
        head = (
            RuleSpec(Frequency.WEEKLY, time(14), time(16, 30), weekday=i % 5)
            if i % 2
            else RuleSpec(Frequency.MONTHLY, time(7, 30), time(11, 30), month_day=1 + i % 28)
        )
        out.append(
            [
                RuleSpec(Frequency.WORKING_DAYS, time(7, 30), time(11, 30)),
                RuleSpec(Frequency.WORKING_DAYS, time(13, 30), time(16, 30)),
                head,
            ]
        )
    return out


def naive_days(
    spec: RuleSpec, start: date, end: date, named: holidays.HolidayBase, overrides: dict[date, bool]
) -> list[date]:
    """The baseline: look at every day of the range, asking the holidays package."""

    def working(d: date) -> bool:
        if d in overrides:
            return overrides[d]
        if d.weekday() >= 5:
            return d in named.weekend_workdays
        return d not in named

    def rolled(d: date) -> date:
        while not working(d):
            d += timedelta(days=1)
        return d

    out: list[date] = []
    day = start - timedelta(days=31)
    while day <= end:
        if spec.frequency is Frequency.WORKING_DAYS:
            hit = day >= start and working(day)
            if hit:
                out.append(day)
        else:
            if spec.frequency is Frequency.WEEKLY:
                nominal = day.weekday() == spec.weekday
            else:
                assert spec.month_day is not None
                last = calendar.monthrange(day.year, day.month)[1]
                nominal = day.day == min(spec.month_day, last)
            if nominal:
                held = rolled(day)
                if start <= held <= end and (not out or out[-1] != held):
                    out.append(held)
        day += timedelta(days=1)
    return out


def _instants(
    rules: list[list[RuleSpec]], days: list[list[list[date]]]
) -> list[tuple[datetime, datetime]]:
    return [
        (local_instant(d, spec.start_time), local_instant(d, spec.end_time))
        for site, site_days in zip(rules, days, strict=True)
        for spec, rule_dates in zip(site, site_days, strict=True)
        for d in rule_dates
    ]


def time_generation(n_sites: int) -> dict[str, Any]:
    """Dates of every rule's sessions, then their UTC instants (the same for both)."""
    start, end = date(YEAR, 1, 1), date(YEAR, 12, 31)
    rules = bench_rules(n_sites)
    gc.collect()
    t0 = clock.perf_counter()
    cal = WorkCalendar()
    fast = [[rule_days(spec, cal, start, end) for spec in site] for site in rules]
    t_fast = clock.perf_counter() - t0
    gc.collect()
    t0 = clock.perf_counter()
    named = holidays.country_holidays("VN", years=range(start.year, end.year + 2))
    slow = [[naive_days(spec, start, end, named, {}) for spec in site] for site in rules]
    t_slow = clock.perf_counter() - t0
    gc.collect()
    t0 = clock.perf_counter()
    sessions = _instants(rules, fast)
    t_instants = clock.perf_counter() - t0
    return {
        "sites": n_sites,
        "rules": sum(len(r) for r in rules),
        "year": YEAR,
        "sessions": len(sessions),
        "dates_rules_engine_s": round(t_fast, 3),
        "dates_naive_day_by_day_s": round(t_slow, 3),
        "dates_speedup": round(t_slow / t_fast, 1),
        "utc_instants_s": round(t_instants, 3),
        "total_rules_engine_s": round(t_fast + t_instants, 3),
        "total_naive_s": round(t_slow + t_instants, 3),
        "same_sessions": fast == slow,
    }


def time_persist(n_sites: int, url: str) -> dict[str, Any]:
    """Store.generate for the same rules: one transaction, bulk insert, rooms checked."""
    engine = make_engine(url)
    migrate(engine, [BRANCH])
    store = Store(engine)
    store.load_tree()
    provinces = [s.id for s in store.list_sites(level=SiteLevel.PROVINCE) if s.valid_to is None]
    sites = [
        SiteInput(
            id=f"bench-{i:04d}",
            name=f"Xã thử nghiệm {i}",
            level=SiteLevel.COMMUNE,
            parent_id=provinces[i % len(provinces)],
            rooms=("Phòng tiếp công dân",),
        )
        for i in range(n_sites)
    ]
    views = store.put_sites(sites)
    for view, specs in zip(views, bench_rules(n_sites), strict=True):
        for n, spec in enumerate(specs):
            store.add_rule(
                RuleRequest(
                    site_id=view.id,
                    title="Tiếp công dân",
                    kind=RuleKind.REGULAR if n < 2 else RuleKind.PERIODIC,
                    spec=spec,
                    room_id=view.rooms[0].id if n < 2 else None,
                )
            )
    t0 = clock.perf_counter()
    report = store.generate(date(YEAR, 1, 1), date(YEAR, 12, 31))
    elapsed = clock.perf_counter() - t0
    engine.dispose()
    return {
        "database": url.split(":", 1)[0],
        "store_generate_s": round(elapsed, 2),
        "written": report.created,
        "sessions_per_s": round(report.created / elapsed),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def _load(
    session: aiohttp.ClientSession, jobs: list[tuple[str, str, Any]], concurrency: int
) -> tuple[list[float], dict[int, int]]:
    queue: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker() -> None:
        while not queue.empty():
            method, url, body = queue.get_nowait()
            t0 = clock.perf_counter()
            async with session.request(method, url, json=body) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            latencies.append(clock.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


@contextmanager
def server(data_dir: Path) -> Iterator[str]:
    """``reception-bridge serve`` in a child process on a free port; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "RB_DATA_DIR": str(data_dir),
        "RB_PORT": str(port),
        "RB_SECRET": SECRET,
        "DATABASE_URL": "",
    }
    exe = [sys.executable, "-c", "from web.cli import main; raise SystemExit(main())"]
    subprocess.run([*exe, "load-sites"], env=env, check=True, capture_output=True)
    child = subprocess.Popen(
        [*exe, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


async def time_api(base: str, requests: int, concurrency: int) -> dict[str, Any]:
    """Booking latency against a static file, both on the same server."""
    token = issue_token(SECRET, role=Role.SCHEDULER, site="tw-hanoi")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(100):
            try:
                async with session.get(f"{base}/api/sites/tw-hanoi") as resp:
                    site = await resp.json()
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
        room = site["rooms"][0]["id"]
        cal = WorkCalendar()
        days = cal.working_days(date(YEAR, 1, 1), date(YEAR, 12, 31))
        starts = [
            datetime.combine(d, time(8)) + timedelta(minutes=30 * k)
            for d in days
            for k in range(16)
        ][:requests]
        bookings = [
            (
                "POST",
                f"{base}/api/sessions",
                {
                    "title": "Tiếp công dân đột xuất",
                    "host_site": "tw-hanoi",
                    "host_room_id": room,
                    "participants": ["bac-ninh", "ha-noi"],
                    "starts_at": s.isoformat(),
                    "ends_at": (s + timedelta(minutes=30)).isoformat(),
                    "time_zone": "Asia/Ho_Chi_Minh",
                },
            )
            for s in starts
        ]
        plain = [("GET", f"{base}/static/schedule/schedule.css", None)] * requests
        warm = bookings[:0] + plain[:50]
        await _load(session, warm, concurrency)
        base_lat, base_status = await _load(session, plain, concurrency)
        book_lat, book_status = await _load(session, bookings, concurrency)
        base_lat2, _ = await _load(session, plain, concurrency)
    base_all = base_lat + base_lat2
    return {
        "requests": requests,
        "concurrency": concurrency,
        "database": "sqlite",
        "booking": "POST /api/sessions (host room + 2 sites, conflict check, one transaction)",
        "booking_p50_ms": pct(book_lat, 0.50),
        "booking_p99_ms": pct(book_lat, 0.99),
        "booking_mean_ms": round(statistics.fmean(book_lat) * 1000, 2),
        "booking_status": book_status,
        "baseline": "GET /static/schedule/schedule.css on the same server, before and after",
        "baseline_p50_ms": pct(base_all, 0.50),
        "baseline_p99_ms": pct(base_all, 0.99),
        "baseline_status": base_status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        result = {
            "benchmark": "schedule",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "generation": time_generation(args.sites),
            "persist": time_persist(args.sites, url),
        }
        with server(Path(tmp) / "api") as base:
            result["booking_api"] = asyncio.run(time_api(base, args.requests, args.concurrency))
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
