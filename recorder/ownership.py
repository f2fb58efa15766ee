"""Who writes a recording: one live process at a time, shown by file locks in its folder.

Nodes of a cluster may share one data folder (the workers of ``serve --workers N`` on
one machine, or machines mounting the same folder). A recording being written belongs to
the server process writing it, and to its recording worker:

- the server holds ``.writer.lock`` (``flock``, exclusive) from before the worker writes
  the manifest until the recording is sealed or let go (a drain moves the session);
- the worker holds ``.worker.lock`` while its files are open (it outlives a server
  killed with SIGKILL by up to ``recorder.lifeline.HARD_STOP_SECONDS`` to close them).

The kernel drops both when their process dies, kill -9 included. Another process takes a
recording over (recovery at start, or a node continuing a session) only when it gets the
writer lock, and it touches the files only once the worker lock is free too. A lock held
means a live writer: the recording is left alone.

``flock`` locks belong to an open file description, so a second claim from the same
process fails too (one writer per recording, even inside one process).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

WRITER_LOCK = ".writer.lock"
WORKER_LOCK = ".worker.lock"
POLL = 0.1


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Ownership:
    """The writer lock of one recording folder, held by this process until released."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let the recording go (closing the descriptor drops the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def claim(folder: Path, wait: float = 0.0) -> Ownership | None:
    """Take the writer lock of ``folder`` (created if missing), trying for up to ``wait``
    seconds; None if another live process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = _open(folder / WRITER_LOCK)
    deadline = time.monotonic() + wait
    while not _try_lock(fd):
        if time.monotonic() >= deadline:
            os.close(fd)
            return None
        time.sleep(POLL)
    return Ownership(folder, fd)


def worker_gone(folder: Path, wait: float) -> bool:
    """True once no worker holds ``folder``'s worker lock (waiting up to ``wait`` seconds
    for one still closing its files); the lock is not kept."""
    path = folder / WORKER_LOCK
    if not path.exists():
        return True
    fd = _open(path)
    try:
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)
        return True
    finally:
        os.close(fd)


def hold_worker_lock(folder: Path) -> int:
    """In the recording worker: take ``folder``'s worker lock for the process's life,
    waiting for a previous worker that still closes its files. Returns the descriptor
    (the lock goes when the process ends)."""
    fd = _open(folder / WORKER_LOCK)
    if not _try_lock(fd):
        logger.warning("%s: a previous worker still closes its files; waiting", folder)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def is_written(folder: Path) -> bool:
    """True if a live process holds ``folder``'s writer lock (tests, diagnostics)."""
    if not folder.is_dir():
        return False
    ownership = claim(folder)
    if ownership is None:
        return True
    ownership.release()
    return False
