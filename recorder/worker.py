"""The recording worker process and its handle in the relay's process.

FFmpeg runs native code that can die on bad input (SIGFPE when a stream is added
late, for one); in a separate process that takes down one recording, never the relay.
The worker reads messages from a queue and drives a :class:`SessionMuxer`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from recorder.manifest import MANIFEST_NAME, Manifest, read_manifest, write_manifest
from recorder.muxer import SessionMuxer

logger = logging.getLogger(__name__)

TRACK = "track"
FRAME = "frame"
ENDED = "ended"
SYNC = "sync"
STOP = "stop"
SYNCED = "synced"
STOPPED = "stopped"
IDLE_POLL = 0.25


def worker_main(
    inbox: Any,
    outbox: Any,
    folder: str,
    session_id: str,
    started_at: str,
    t0: float,
    settle: float,
) -> None:
    """Process entry point: mux until told to stop or the parent process is gone."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    parent = os.getppid()
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    if (path / MANIFEST_NAME).exists():
        manifest = read_manifest(path)
    else:
        manifest = Manifest(session_id=session_id, started_at=started_at)
        write_manifest(path, manifest)
    muxer = SessionMuxer(path, manifest, t0, settle=settle)
    while True:
        try:
            message = inbox.get(timeout=IDLE_POLL)
        except queue.Empty:
            muxer.tick(time.monotonic())
            if os.getppid() != parent:
                logger.warning("session %s: relay process is gone; closing files", session_id)
                muxer.close()
                return
            continue
        tag = message[0]
        if tag == FRAME:
            muxer.on_frame(*message[1:])
        elif tag == TRACK:
            muxer.on_track(message[1])
        elif tag == ENDED:
            muxer.on_track_ended(message[1])
        elif tag == SYNC:
            outbox.put((SYNCED, message[1]))
        elif tag == STOP:
            muxer.close()
            outbox.put((STOPPED, None))
            return


class RecordingWorker:
    """The relay-side handle of one session's worker process."""

    def __init__(
        self, folder: Path, session_id: str, started_at: str, t0: float, *, settle: float = 2.0
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.folder = folder
        self.session_id = session_id
        self._inbox = ctx.Queue()
        self._outbox = ctx.Queue()
        self._sync_counter = 0
        self.process: BaseProcess = ctx.Process(
            target=worker_main,
            args=(self._inbox, self._outbox, str(folder), session_id, started_at, t0, settle),
            name=f"recorder-{session_id}",
            daemon=True,
        )

    def start(self) -> None:
        self.process.start()
        logger.info("session %s: recording worker pid %s", self.session_id, self.process.pid)

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, message: tuple[Any, ...]) -> bool:
        """Queue a message without blocking; False if the worker is gone."""
        if self.process.exitcode is not None:
            return False
        self._inbox.put(message)
        return True

    def sync(self, timeout: float = 30.0) -> bool:
        """Block until the worker has handled everything sent so far (tests, benchmarks)."""
        self._sync_counter += 1
        if not self.send((SYNC, self._sync_counter)):
            return False
        return self._await(SYNCED, self._sync_counter, timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask the worker to close its files and exit; True if it did so cleanly."""
        clean = self.send((STOP,)) and self._await(STOPPED, None, timeout)
        self.process.join(timeout)
        if self.process.is_alive():
            logger.error("session %s: worker did not stop; killing it", self.session_id)
            self.process.kill()
            self.process.join()
            clean = False
        self._inbox.close()
        self._outbox.close()
        return bool(clean) and self.process.exitcode == 0

    def _await(self, tag: str, value: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = self._outbox.get(timeout=0.2)
            except queue.Empty:
                if self.process.exitcode is not None:
                    return False
                continue
            if reply == (tag, value):
                return True
        return False
