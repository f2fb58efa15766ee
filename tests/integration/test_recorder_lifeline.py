"""kill -9 of the server leaves no process behind: the recording worker, the media
pool's worker and multiprocessing's resource tracker die with it, crash after crash,
and the next start recovers a recording that plays.

The server is the real one (``tests/recorder_server.py``: ``create_app`` and
``run_app``) in a subprocess, recording synthetic media in real time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from recorder.lifeline import exec_prefix
from recorder.manifest import RecordingState, read_manifest
from recorder.worker import RecordingWorker
from tests.conftest import free_port
from tests.recorder_support import ffprobe, now

REPO = Path(__file__).resolve().parents[2]
SESSION = "s-kill-9"
SECRET = "lifeline-test-secret-lifeline-test-secret"
STARTUP = 120.0
"""Seconds a server may take to start on a busy machine."""
GONE_WITHIN = 10.0
"""Seconds the children of a killed server may take to go."""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    ppid: int
    state: str
    starttime: int

    @property
    def cmdline(self) -> str:
        try:
            raw = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return ""
        return raw.replace(b"\0", b" ").decode(errors="replace")


def read_proc(pid: int) -> Proc | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return Proc(pid, int(fields[1]), fields[0], int(fields[19]))


def processes() -> list[Proc]:
    found = (read_proc(int(name)) for name in os.listdir("/proc") if name.isdigit())
    return [p for p in found if p is not None]


def descendants(pid: int) -> list[Proc]:
    """Every process below ``pid`` (children, their children...)."""
    table = processes()
    found: list[Proc] = []
    parents = {pid}
    while True:
        more = [p for p in table if p.ppid in parents and p not in found]
        if not more:
            return found
        found += more
        parents = {p.pid for p in more}


def running(proc: Proc) -> bool:
    """Still there: the same process (not a reused pid), not a zombie."""
    now = read_proc(proc.pid)
    return now is not None and now.starttime == proc.starttime and now.state not in "ZX"


def wait_gone(procs: list[Proc], timeout: float = GONE_WITHIN) -> list[Proc]:
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in procs if running(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    pids: dict[str, Any]
    log: Path


def start_server(data_dir: Path, name: str, session: str = "") -> Server:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RB_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        RB_DATA_DIR=str(data_dir),
        RB_HOST="127.0.0.1",
        RB_PORT=str(free_port()),
        RB_SECRET=SECRET,
        PYTHONUNBUFFERED="1",
    )
    out, log = data_dir.parent / f"{name}.out", data_dir.parent / f"{name}.log"
    with out.open("wb") as stdout, log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.recorder_server", *([session] if session else [])],
            cwd=REPO,
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines()
        if lines:
            return Server(process, json.loads(lines[0]), log)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    process.wait()
    pytest.fail(f"{name} did not start:\n{log.read_text()[-4000:]}")


def kill_9(server: Server) -> list[Proc]:
    """SIGKILL the server; returns its descendants as they were just before."""
    children = descendants(server.process.pid)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    return children


def describe(procs: list[Proc]) -> str:
    return "; ".join(f"{p.pid} {p.state} {p.cmdline[:120]}" for p in procs)


def test_killed_server_takes_its_children_along_and_the_recording_plays(
    tmp_path: Path, ffprobe_path: str
) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, "first", SESSION)
    try:
        children = kill_9(first)
    finally:
        first.process.kill()
    pids = {p.pid for p in children}
    # Who was there: the recording worker, the pool's worker, the resource tracker.
    assert first.pids["worker"] in pids and first.pids["pool"] in pids, describe(children)
    assert any("resource_tracker" in p.cmdline for p in children), describe(children)
    left = wait_gone(children)
    assert not left, f"left behind by the killed server: {describe(left)}"

    # The next start recovers the recording (in its media pool) and it plays.
    second = start_server(data_dir, "second")
    try:
        folder = data_dir / "archive" / "recordings" / SESSION
        manifest = read_manifest(folder)
        assert manifest.state is RecordingState.RECOVERED
        assert sorted(f.site for f in manifest.files) == ["bac-ninh", "tw-hanoi"]
        for entry in manifest.files:
            assert entry.closed and entry.sha256
            probe = ffprobe(ffprobe_path, folder / entry.name)
            counts = {s["codec_type"]: int(s["nb_read_frames"]) for s in probe["streams"]}
            # Recorded for 3 s; clusters are flushed every second (and the worker closed
            # its files when its pipe read end-of-file).
            assert counts["video"] >= 20 and counts["audio"] >= 50, (entry.name, counts)
            assert float(probe["format"]["duration"]) >= 1.0
        # Killed again (its pool ran the recovery): one crash more, no process more.
        children = kill_9(second)
    finally:
        second.process.kill()
    assert second.pids["pool"] in {p.pid for p in children}, describe(children)
    left = wait_gone(children)
    assert not left, f"left behind by the killed server: {describe(left)}"


def test_a_program_started_through_the_exec_prefix_dies_with_its_parent(tmp_path: Path) -> None:
    """How ffmpeg composing a file is started (``recorder/compose.py``)."""
    script = (
        "import subprocess, sys, time\n"
        "from recorder.lifeline import exec_prefix\n"
        "child = subprocess.Popen([*exec_prefix(), 'sleep', '120'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 30
        while "sleep" not in (Path(f"/proc/{pid}/cmdline").read_bytes().decode()):
            assert time.monotonic() < deadline, "sleep was not started"
            time.sleep(0.05)
        child = read_proc(pid)
        assert child is not None
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert not wait_gone([child]), "sleep outlived its parent"
    finally:
        parent.kill()
        parent.wait()
    assert exec_prefix()[-1] == str(os.getpid())


def test_a_worker_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    """Linux signals a child when the *thread* that forked it ends (the recorder starts
    workers from a thread pool); the worker sees its server is still there and goes on."""
    worker = RecordingWorker(tmp_path, "s-thread", "2026-11-27T02:00:00+00:00", now())
    synced: list[bool] = []

    def start() -> None:
        worker.start()
        synced.append(worker.sync())  # the worker has tied its lifeline by now

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    assert synced == [True]
    time.sleep(0.5)
    assert worker.alive and worker.sync()
    assert worker.stop()
