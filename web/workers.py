"""``reception-bridge serve --workers N``: N node processes on one machine.

Every worker listens on the entry port (``RB_PORT``, shared through SO_REUSEPORT: the
kernel spreads new TCP connections over the workers) and on a port of its own,
``RB_PORT + 1 + i``, which it advertises as its node address. A /bridge connection that
lands on a worker whose node does not hold its session is refused with ``redirect`` and
that node's own address, so all of a session's signaling and media meet in one process.
The parent only supervises: it passes SIGTERM and SIGINT on (each worker drains) and
starts again a worker that died while the server runs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from config.settings import Settings

logger = logging.getLogger(__name__)

RESTART_PAUSE = 1.0
"""Seconds before a worker that died is started again."""


def worker_port(settings: Settings, index: int) -> int:
    """Worker ``index``'s own port."""
    return settings.port + 1 + index


def worker_url(settings: Settings, index: int) -> str:
    """Worker ``index``'s advertised address: the public address on the worker's port."""
    parts = urlsplit(settings.base_url)
    host = parts.hostname or settings.host
    netloc = f"[{host}]" if ":" in host else host
    return urlunsplit(
        (parts.scheme, f"{netloc}:{worker_port(settings, index)}", parts.path, "", "")
    ).rstrip("/")


def _start(settings: Settings, index: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["RB_NODE_URL"] = worker_url(settings, index)
    # Every worker is a node of its own: ``RB_NODE_ID`` names them ``<id>-<index>``
    # (for ``RB_HOME_NODES``), else each draws a random id.
    if settings.node_id:
        env["RB_NODE_ID"] = f"{settings.node_id}-{index}"
    else:
        env.pop("RB_NODE_ID", None)
    command = [sys.executable, "-m", "web.cli", "serve", "--workers", "1", "--worker", str(index)]
    return subprocess.Popen(command, env=env)


def run_workers(settings: Settings, count: int) -> int:
    """Start ``count`` workers and supervise them until SIGTERM or SIGINT; returns the
    first nonzero exit code of a worker at the end, else 0."""
    workers = {i: _start(settings, i) for i in range(count)}
    stopping: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        for process in workers.values():
            if process.poll() is None:
                process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        time.sleep(0.2)
        if stopping:
            break
        for index, process in list(workers.items()):
            code = process.poll()
            if code is not None and not stopping:
                logger.warning("worker %d exited (%s); starting it again", index, code)
                time.sleep(RESTART_PAUSE)
                workers[index] = _start(settings, index)
    codes = [process.wait() for process in workers.values()]
    return next((c for c in codes if c != 0), 0)
