"""The one mapping from domain refusals to HTTP statuses (``web/http/errors.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from recorder.archive import ArchiveError
from recorder.storage import StorageError
from sessions.errors import Refusal, ScheduleError, conflict, forbidden, invalid, not_found
from web.http.errors import CODE_STATUS, refusal_status, refused

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (invalid("end_before_start", "the range ends before it starts"), 422),
        (not_found("unknown_session", "no such session"), 404),
        (conflict("room_taken", "the room is booked"), 409),
        (forbidden("outside_scope", "not your province"), 403),
        # Syntax is malformed whichever layer finds it out.
        (invalid("bad_site_id", "site id must be lower case"), 400),
        (invalid("bad_case_kind", "case_kind must be complaint, ..."), 400),
        (ArchiveError("bad_case_number", "a case number is required"), 400),
        (ArchiveError("bad_case", "a refusal needs a reason"), 422),
        (ArchiveError("bad_marker", "a marker cannot precede the recording"), 422),
        (ArchiveError("case_exists", "case 1 already exists"), 409),
        (ArchiveError("unknown_case", "no case 1"), 404),
        (StorageError("bad_name", "names may hold letters..."), 400),
        (StorageError("not_found", "no file"), 404),
    ],
)
def test_refusals_map_to_one_status(
    exc: ScheduleError | ArchiveError | StorageError, status: int
) -> None:
    assert refused(exc).status == status


def test_every_kind_and_every_archive_code_has_a_status() -> None:
    for kind in Refusal:
        assert refusal_status("some_code", kind) in {403, 404, 409, 422}
    raised = set()
    for name in ("recorder/archive.py", "recorder/storage.py"):
        source = (ROOT / name).read_text(encoding="utf-8")
        raised |= set(re.findall(r'(?:ArchiveError|StorageError)\(\s*"(\w+)"', source))
    assert raised and raised <= set(CODE_STATUS), raised - set(CODE_STATUS)
