"""schemathesis over ``/api/openapi.json`` against the real app (issue 12, item 7).

A live aiohttp server on 127.0.0.1 (its own thread and event loop, SQLite in a temporary
folder with the default site tree) is fuzzed operation by operation, as an administrator
with a bearer token (and, for the accounts routes, a fresh signed-in session each case,
its CSRF token echoed): every answer must be no server error (5xx), declare its status, carry
the declared content type, and match the declared schema, for the success and the error
responses alike. The archive and reception-book routes are in the document too; four book
entries and four watch items are written first so their detail and edit routes see real
ids, and one session is recorded (two sites' real VP8 and Opus for 2 s, one case marked in
it, one extract cut from it) so the archive's recording, file, playback, extract, compose,
export, case and marker routes are fuzzed on ids that exist, not only answered 404.
Bounded: ``MAX_EXAMPLES`` cases per operation, no per-case deadline (the machine is
shared), so the whole run takes about two minutes on a loaded machine.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.service import Accounts
from accounts.values import UserView
from config.settings import Settings
from core.access import Role
from core.db import make_engine
from core.ids import SessionId
from recorder.manifest import RecordingState
from sessions.store import Store
from signaling.tokens import issue_token
from tests.conftest import free_port
from tests.recorder_support import TapHub, now, schedule, site_media
from web.accounts.keys import ACCOUNTS
from web.accounts.middleware import COOKIE, CSRF_HEADER, LOGIN_COOKIE
from web.app import create_app, openapi_document
from web.archive.keys import RECORDER
from web.keys import DIRECTORY

SECRET = "openapi-fuzz-test-secret-0123456789abcdef"
MAX_EXAMPLES = 15
"""Cases per operation."""
RECORDS = "^/api/(archive|book)/"
RECORDS_EXAMPLES = 8
"""Cases per archive or reception-book operation: fewer, each writes audit lines and
spreadsheets, so that the whole test stays under about two minutes on a shared machine."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_dict(openapi_document())

BOOKED: list[tuple[str, list[int]]] = []
"""Sessions booked before the fuzz (id, slot ids): half the cases naming a session or a
slot name one of these, so opening, closing, cancelling, tokens and slot bookings are
fuzzed on real sessions too, not only answered 404."""

ENTRIES: list[int] = []
WATCHED: list[int] = []
"""Book entries and watch items written before the fuzz: half the cases naming an entry
or an item name one of these, so the detail and edit routes are fuzzed on real ones."""


@dataclass(slots=True)
class Recorded:
    """The session recorded before the fuzz, and what its archive routes take."""

    session_id: str = ""
    files: list[str] = field(default_factory=list)
    """Its files' names (one per site and kind)."""
    cases: list[str] = field(default_factory=list)
    """Case numbers marked in it."""
    exports: list[str] = field(default_factory=list)
    """Export jobs made from it (an extract of the case)."""


RECORDED = Recorded()
"""Half the cases naming a recording, file, export, case or session name these."""

CASE = "12/2026"
MEDIA_SECONDS = 2.0

TURNS = itertools.count()
"""Cases so far: every other case naming an entry or a watch item names a real one."""

STATUSES: dict[str, Counter[int]] = {}
"""Answers per operation, printed at the end (the figures for a report)."""


@schemathesis.serializer("application/toml")
def toml_body(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    """A site tree is TOML text: sent as the generated string (UTF-8)."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Live:
    url: str
    headers: dict[str, str]
    accounts: Accounts
    user: UserView
    """An administrator of the host office, signed in afresh for each case of an
    operation the rb_session cookie authenticates (a fuzzed logout ends only that one)."""

    def signed_in(self) -> dict[str, str]:
        """Headers of a new signed-in session (its CSRF token echoed, as the pages do;
        the sign-in form's cookie holds the same value, so /api/login passes it too)."""
        raw, person = self.accounts.start_session(self.user)
        return {
            **self.headers,
            "Cookie": f"{COOKIE}={raw}; {LOGIN_COOKIE}={person.csrf_token}",
            CSRF_HEADER: person.csrf_token,
        }


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The real app on a free port, served from a thread with its own event loop."""
    data_dir: Path = tmp_path_factory.mktemp("openapi-fuzz")
    port = free_port()
    settings = Settings(host="127.0.0.1", port=port, data_dir=data_dir, secret=SECRET)
    app = create_app(settings)
    url = f"http://127.0.0.1:{port}"
    loop = asyncio.new_event_loop()
    from aiohttp import web

    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, name="openapi-fuzz", daemon=True)
    thread.start()
    engine = make_engine(settings.effective_database_url)
    Store(engine).load_tree()  # the app migrated the database; the default site tree
    engine.dispose()
    token = issue_token(SECRET, role=Role.ADMINISTRATOR, site="tw-hanoi", subject="fuzz")
    headers = {"Authorization": f"Bearer {token}"}
    for hour in range(7, 17):
        body: dict[str, Any] = {
            "title": f"Tiếp công dân lúc {hour} giờ",
            "host_site": "tw-hanoi",
            "participants": ["bac-ninh", "da-nang"],
            "starts_at": f"2027-03-01T{hour:02d}:00:00+07:00",
            "ends_at": f"2027-03-01T{hour:02d}:50:00+07:00",
            "slot_minutes": 10,
        }
        answer = requests.post(f"{url}/api/sessions", json=body, headers=headers, timeout=30)
        assert answer.status_code == 201, answer.text
        BOOKED.append((answer.json()["id"], [s["id"] for s in answer.json()["slots"]]))
    for n, kind in enumerate(["complaint", "denunciation", "petition", "mixed"]):
        entry: dict[str, Any] = {
            "received_on": f"2026-11-{n + 2:02d}",
            "kind": kind,
            "channel": "in_person",
            "persons": [{"name": f"Nguyễn Văn {n}", "address": "Hà Nội", "id_number": "001"}],
            "summary": "Khiếu nại về đất đai",
        }
        answer = requests.post(f"{url}/api/book/entries", json=entry, headers=headers, timeout=30)
        assert answer.status_code == 201, answer.text
        ENTRIES.append(answer.json()["id"])
        item: dict[str, Any] = {
            "kind": "crowd",
            "title": f"Đoàn {n}",
            "people_count": 6,
            "entry_id": ENTRIES[-1],
        }
        answer = requests.post(f"{url}/api/book/watch", json=item, headers=headers, timeout=30)
        assert answer.status_code == 201, answer.text
        WATCHED.append(answer.json()["id"])
    record(app, loop, url, headers)
    started = time.monotonic()
    accounts = app[ACCOUNTS]
    user, _ = accounts.add_user("fuzz", "Fuzz", "tw-hanoi", [Role.ADMINISTRATOR], by="test")
    try:
        yield Live(url, headers, accounts, user)
    finally:
        took = time.monotonic() - started
        cases = sum(sum(c.values()) for c in STATUSES.values())
        print(
            f"\nschemathesis: {len(STATUSES)} operations, {cases} cases in {took:.1f} s,"
            f" load average {os.getloadavg()[0]:.2f}"
        )
        print(f"  recorded {RECORDED.session_id}: {RECORDED.files}, exports {RECORDED.exports}")
        for name, counts in sorted(STATUSES.items()):
            print(f"  {name}: {dict(sorted(counts.items()))}")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def record(app: Any, loop: asyncio.AbstractEventLoop, url: str, headers: dict[str, str]) -> None:
    """Book a session of its own (the fuzz opens and closes the booked ones), record it
    with real media and a marked case, and cut one extract, filling ``RECORDED``."""
    body: dict[str, Any] = {
        "title": "Phiên được ghi",
        "host_site": "tw-hanoi",
        "participants": ["bac-ninh"],
        "starts_at": "2027-03-02T08:00:00+07:00",
        "ends_at": "2027-03-02T09:00:00+07:00",
    }
    answer = requests.post(f"{url}/api/sessions", json=body, headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    session_id = str(answer.json()["id"])
    case = {"number": CASE, "kind": "complaint", "sites": ["tw-hanoi", "bac-ninh"]}
    answer = requests.post(f"{url}/api/archive/cases", json=case, headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    running = asyncio.run_coroutine_threadsafe(_record(app, session_id), loop)
    RECORDED.files = running.result(timeout=120)
    RECORDED.session_id = session_id
    RECORDED.cases = [CASE]
    extract = {"file": RECORDED.files[0], "case_number": CASE, "reason": "kiểm tra"}
    answer = requests.post(
        f"{url}/api/archive/recordings/{session_id}/extracts",
        json=extract,
        headers=headers,
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    RECORDED.exports = [str(answer.json()["id"])]


async def _record(app: Any, session_id: str) -> list[str]:
    """On the server's loop: record ``session_id`` from a stand-in hub (the recorder
    takes the same frames from the relay's); the files' names."""
    session = await app[DIRECTORY].session(SessionId(session_id))
    assert session is not None
    recorder = app[RECORDER]
    hub = TapHub(session_id)
    assert await recorder.start(session, hub)
    # Media starts now (its frames' arrival times from here); the case is marked 0.5 s in.
    start, marked_at = now(), datetime.now(UTC) + timedelta(seconds=0.5)
    hub.deliver(
        schedule(site_media(session_id, "tw-hanoi", seconds=MEDIA_SECONDS), start)
        + schedule(site_media(session_id, "bac-ninh", seconds=MEDIA_SECONDS), start + 0.2)
    )
    await recorder.add_marker(session_id, CASE, "bắt đầu", marked_at)
    worker = recorder.worker(session_id)
    assert worker is not None and await asyncio.to_thread(worker.sync)
    # The frames were handed over at once with arrival times up to MEDIA_SECONDS ahead
    # (the encoded media is cached): stop once they are past, as a live session would,
    # so the case marked 0.5 s in lies inside the recording.
    await asyncio.sleep(max(0.0, start + MEDIA_SECONDS + 0.3 - now()))
    manifest = await recorder.stop(session_id)
    assert manifest is not None and manifest.state is RecordingState.COMPLETE
    return [f.name for f in manifest.files]


@schema.exclude(path_regex=RECORDS).parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any, live: Live) -> None:
    check(case, live)


@schema.include(path_regex=RECORDS).parametrize()
@settings(
    max_examples=RECORDS_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_records_operation_answers_as_documented(case: Any, live: Live) -> None:
    check(case, live)


def check(case: Any, live: Live) -> None:
    path = case.path_parameters or {}
    turn = next(TURNS)
    for key, real in (("entry_id", ENTRIES), ("item_id", WATCHED)):
        if key in path and real and turn % 2 == 0:
            path[key] = real[turn // 2 % len(real)]
    if RECORDED.session_id and turn % 2 == 1:
        recorded = {
            "recording": [RECORDED.session_id],
            "session": [RECORDED.session_id],
            "name": RECORDED.files,
            "export": RECORDED.exports,
            "number": RECORDED.cases,
        }
        for key, names in recorded.items():
            if key in path and names:
                path[key] = names[turn // 2 % len(names)]
    if "session_id" in path and BOOKED and hash(str(path["session_id"])) % 2 == 0:
        session_id, slots = BOOKED[hash(str(path["session_id"])) % len(BOOKED)]
        path["session_id"] = session_id
        if "slot_id" in path and isinstance(path["slot_id"], int) and path["slot_id"] % 2 == 0:
            path["slot_id"] = slots[path["slot_id"] % len(slots)]
    security = case.operation.definition.raw.get("security", [])
    # The sign-in form's cookie too, so /api/login is fuzzed past its CSRF check.
    cookie = {"cookie": []} in security or case.operation.path == "/api/login"
    headers = live.signed_in() if cookie else live.headers
    response = case.call(base_url=live.url, headers=headers, timeout=30)
    STATUSES.setdefault(case.operation.label, Counter())[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)
