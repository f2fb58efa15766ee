"""A whole session through the archive: two reception rooms in Chromium, the operator
marks two cases, the session closes; ffprobe reads every file; the extract of one case
has the case's length; a clerk finds the session by case number and plays it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from core.access import Role
from recorder.manifest import Manifest
from tests.e2e.conftest import OpenPage, OpenRoom
from tests.e2e.final_window import FINAL_WINDOW_S, LEAD_IN_S, Measurement, assert_steady
from tests.e2e.harness import MEDIA_TIMEOUT_S, LiveServer, wait_until
from tests.recorder_support import ffprobe
from web.archive.keys import ARCHIVE, RECORDER

pytestmark = pytest.mark.chromium

CASE_SECONDS = FINAL_WINDOW_S / 2
"""Two cases fill the final window before the session closes."""


def call(server: LiveServer, method: str, path: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def download(server: LiveServer, path: str, token: str, target: Path) -> Path:
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        target.write_bytes(response.read())
    return target


def test_session_recorded_marked_extracted_and_played(
    live_server: LiveServer,
    open_room: OpenRoom,
    open_page: OpenPage,
    ffprobe_path: str,
    tmp_path: Path,
) -> None:
    session = live_server.session.id
    recorder = live_server.app[RECORDER]
    hanoi = open_room("tw-hanoi")
    bac_ninh = open_room("bac-ninh")
    hanoi.wait_joined()
    bac_ninh.wait_joined()
    hanoi.wait_receiving("bac-ninh")
    bac_ninh.wait_receiving("tw-hanoi")
    wait_until(
        lambda: recorder.is_recording(session),
        timeout=MEDIA_TIMEOUT_S,
        message="the open session is not being recorded",
    )

    operator = live_server.token("tw-hanoi", role=Role.OPERATOR)
    for number, kind in (("101/2026/TCD", "complaint"), ("102/2026/TCD", "petition")):
        case = {"number": number, "kind": kind, "sites": ["tw-hanoi", "bac-ninh"]}
        call(live_server, "POST", "/api/archive/cases", operator, case)
    markers = []
    measurement = Measurement([(hanoi, "bac-ninh"), (bac_ninh, "tw-hanoi")])
    time.sleep(LEAD_IN_S)  # part of the measurement: the streams' start is not judged
    measurement.begin_final_window()
    for number in ("101/2026/TCD", "102/2026/TCD"):
        body = {"case_number": number, "text": "bắt đầu vụ việc"}
        markers.append(
            call(live_server, "POST", f"/api/archive/sessions/{session}/markers", operator, body)
        )
        # The case is discussed: its length is what the extract is checked against.
        time.sleep(CASE_SECONDS)
    # A marker asks for a keyframe, which must not freeze anyone's picture.
    assert_steady(measurement.finish())

    manifest: Manifest | None = live_server.run(recorder.on_session_close(session), timeout=120)
    assert manifest is not None and manifest.state == "complete"
    assert manifest.ended_at is not None
    session_ms = (
        datetime.fromisoformat(manifest.ended_at) - datetime.fromisoformat(manifest.started_at)
    ).total_seconds() * 1000
    assert [m.case_number for m in manifest.markers] == ["101/2026/TCD", "102/2026/TCD"]
    folder = live_server.app[ARCHIVE].storage.root / "recordings" / session
    assert sorted(manifest.sites) == ["bac-ninh", "tw-hanoi"]
    for entry in manifest.files:
        probe = ffprobe(ffprobe_path, folder / entry.name)
        codecs = {s["codec_type"]: s["codec_name"] for s in probe["streams"]}
        assert codecs == {"video": "vp8", "audio": "opus"}, entry.name
        video = next(s for s in probe["streams"] if s["codec_type"] == "video")
        assert int(video["nb_read_frames"]) > 0
        expected = (session_ms - entry.offset_ms) / 1000
        assert float(probe["format"]["duration"]) == pytest.approx(expected, rel=0.02), entry

    clerk = live_server.token("tw-hanoi", role=Role.CLERK)
    file = manifest.files[0]
    extract = call(
        live_server,
        "POST",
        f"/api/archive/recordings/{session}/extracts",
        clerk,
        {"file": file.name, "case_number": "101/2026/TCD", "reason": "đơn yêu cầu trích xuất số 1"},
    )
    case_ms = markers[1]["offset_ms"] - markers[0]["offset_ms"]
    # A keyframe was requested at the marker: the extract starts at it, within a second.
    assert abs(extract["detail"]["start_ms"] - extract["detail"]["requested_start_ms"]) < 1000
    wanted = extract["detail"]["end_ms"] - extract["detail"]["start_ms"]
    assert wanted == pytest.approx(case_ms, abs=1000)
    probe = ffprobe(
        ffprobe_path, download(live_server, extract["download"], clerk, tmp_path / "x.webm")
    )
    assert float(probe["format"]["duration"]) * 1000 == pytest.approx(wanted, rel=0.05)

    # An unknown case and another site's clerk: clear errors.
    other = live_server.token("khanh-hoa", role=Role.CLERK)  # not in the session
    with pytest.raises(urllib.error.HTTPError) as refused:
        call(live_server, "GET", f"/api/archive/recordings/{session}", other)
    assert refused.value.code == 404

    page = open_page(live_server.page_url("/archive", token=clerk), name="clerk")
    page.page.fill("input[name=case]", "101/2026")
    page.page.click("#search button[type=submit]")
    page.page.wait_for_selector(f"#results tr[data-session='{session}']", timeout=30_000)
    page.page.click(f"#results tr[data-session='{session}']")
    page.page.wait_for_selector("#chapters li", timeout=30_000)
    assert page.page.locator("#chapters li").count() == 2
    page.page.click("#chapters li button")
    wait_until(
        lambda: page.evaluate(
            "() => { const v = document.querySelector('#video');"
            " return v.readyState >= 2 && v.currentTime > 0 && v.videoWidth > 0; }"
        ),
        timeout=MEDIA_TIMEOUT_S,
        message=lambda: f"the clerk's player did not play{page.log_tail()}",
    )
