"""The recording worker process and its handle in the relay's process.

FFmpeg runs native code that can die on bad input (SIGFPE when a stream is added
late, for one); in a separate process that takes down one recording, never the relay.
The worker reads messages from a pipe and drives a :class:`SessionMuxer`.

The relay's side writes into that pipe through a bounded :class:`FrameQueue` (its
policy when the worker falls behind is in ``recorder/framequeue.py``); replies (sync,
stopped) come back through a second pipe. The worker dies with the server
(``recorder/lifeline.py``): the kernel signals it when the server dies, and the
inbox pipe, whose only writer is the server, reads end-of-file; it then muxes what
the pipe still held, closes its files and exits (killed by the kernel after
``HARD_STOP_SECONDS`` if that hangs).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from recorder.framequeue import FRAME, GAP, DropRun, FrameQueue, QueueLimits
from recorder.lifeline import tie_to_parent
from recorder.manifest import MANIFEST_NAME, Manifest, read_manifest, write_manifest
from recorder.muxer import SessionMuxer
from recorder.ownership import hold_worker_lock

logger = logging.getLogger(__name__)

TRACK = "track"
ENDED = "ended"
SYNC = "sync"
STOP = "stop"
SYNCED = "synced"
STOPPED = "stopped"
IDLE_POLL = 0.25


def worker_main(
    inbox: Connection,
    outbox: Connection,
    folder: str,
    session_id: str,
    started_at: str,
    t0: float,
    settle: float,
    parent_pid: int,
) -> None:
    """Process entry point: mux until told to stop or the relay's process is gone."""
    tie_to_parent(parent_pid, lambda: None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    # Held until the process ends (kill -9 included): no other process touches these
    # files while this one may still write them (``recorder/ownership.py``).
    hold_worker_lock(path)
    if (path / MANIFEST_NAME).exists():
        manifest = read_manifest(path)
    else:
        manifest = Manifest(session_id=session_id, started_at=started_at)
        write_manifest(path, manifest)
    muxer = SessionMuxer(path, manifest, t0, settle=settle)
    while True:
        try:
            if not inbox.poll(IDLE_POLL):
                muxer.tick(time.monotonic())
                if os.getppid() != parent_pid:
                    raise EOFError
                continue
            message = pickle.loads(inbox.recv_bytes())
        except (EOFError, OSError):
            # Only the relay's process writes the inbox: it is gone.
            logger.warning("session %s: relay process is gone; closing files", session_id)
            muxer.close()
            return
        tag = message[0]
        if tag == FRAME:
            muxer.on_frame(*message[1:])
        elif tag == TRACK:
            muxer.on_track(message[1])
        elif tag == ENDED:
            muxer.on_track_ended(message[1])
        elif tag == GAP:
            muxer.on_gap(*message[1:])
        elif tag == SYNC:
            outbox.send((SYNCED, message[1]))
        elif tag == STOP:
            muxer.close()
            outbox.send((STOPPED, None))
            return


class RecordingWorker:
    """The relay-side handle of one session's worker process."""

    def __init__(
        self,
        folder: Path,
        session_id: str,
        started_at: str,
        t0: float,
        *,
        settle: float = 2.0,
        limits: QueueLimits | None = None,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.folder = folder
        self.session_id = session_id
        # Pipes, not multiprocessing queues: no unbounded buffer of their own, no
        # semaphores, and the worker sees end-of-file when the relay's process dies.
        inbox_reader, inbox_writer = ctx.Pipe(duplex=False)
        outbox_reader, outbox_writer = ctx.Pipe(duplex=False)
        self._child_ends = (inbox_reader, outbox_writer)
        self._inbox = inbox_writer
        self._outbox = outbox_reader
        self.queue = FrameQueue(inbox_writer, limits, name=session_id)
        """Everything for the worker goes through here (the sink puts frames directly)."""
        self.lost: list[DropRun] = []
        """Once stopped: dropped frames no worker recorded as a gap (it died first)."""
        self._sync_counter = 0
        self._stopped = False
        self.process: BaseProcess = ctx.Process(
            target=worker_main,
            args=(
                inbox_reader,
                outbox_writer,
                str(folder),
                session_id,
                started_at,
                t0,
                settle,
                os.getpid(),
            ),
            name=f"recorder-{session_id}",
            daemon=True,
        )

    def start(self) -> None:
        self.process.start()
        for end in self._child_ends:
            end.close()  # the worker has its own copies; ours would hide its death
        self.queue.start()
        logger.info("session %s: recording worker pid %s", self.session_id, self.process.pid)

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def send(self, message: tuple[Any, ...]) -> bool:
        """Queue a control message without blocking; False if the worker is gone."""
        if self._stopped or self.process.exitcode is not None:
            return False
        return self.queue.put_control(message)

    def sync(self, timeout: float = 30.0) -> bool:
        """Block until the worker has handled everything sent so far (tests, benchmarks)."""
        self._sync_counter += 1
        if not self.send((SYNC, self._sync_counter)):
            return False
        return self._await(SYNCED, self._sync_counter, timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask the worker to close its files and exit; True if it did so cleanly.

        Gaps still open are handed to it first; what it could not record (it died)
        is left in :attr:`lost`.
        """
        if self._stopped:
            return False
        clean = False
        if self.process.exitcode is None:
            self.queue.flush_gaps()
            clean = self.send((STOP,)) and self._await(STOPPED, None, timeout)
            self.process.join(timeout)
        self._stopped = True
        if self.process.is_alive():
            logger.error("session %s: worker did not stop; killing it", self.session_id)
            self.process.kill()
            self.process.join()
            clean = False
        if clean:
            self.queue.close()
        else:
            self.lost = self.queue.discard()
            self.queue.close(timeout=1.0)
        self._inbox.close()
        self._outbox.close()
        return bool(clean) and self.process.exitcode == 0

    def _await(self, tag: str, value: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not self._outbox.poll(0.2):
                    if self.process.exitcode is not None:
                        return False
                    continue
                reply = self._outbox.recv()
            except (EOFError, OSError):
                return False
            if reply == (tag, value):
                return True
        return False
