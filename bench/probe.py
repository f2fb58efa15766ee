"""``reception-bridge`` with a probe: the server's asyncio task count, seen from outside.

    RB_PROBE_FILE=/tmp/probe.json python -m bench.probe serve

Runs the command line (``web.cli.main``) unchanged, and once a second writes one JSON
object to ``RB_PROBE_FILE`` (atomically, by rename): the number of live asyncio tasks of
the server's event loop, the commonest coroutines among them, and when they were
counted. RSS, descriptors and UDP sockets are read from ``/proc`` by the bench itself
(``bench.lifecycle.Sample``); tasks can only be counted inside the process. The count
runs on the loop (``call_soon_threadsafe``), so it is exact; a probe thread waits for it
and writes the file.

For benchmarks and leak tests only: the product has no such hook.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import threading
import time
from pathlib import Path

PROBE_FILE_ENV = "RB_PROBE_FILE"
INTERVAL = 1.0

_loops: list[asyncio.AbstractEventLoop] = []
_original_new_event_loop = asyncio.new_event_loop


def _recording_new_event_loop() -> asyncio.AbstractEventLoop:
    loop = _original_new_event_loop()
    _loops.append(loop)
    return loop


def _coro_name(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    return str(getattr(coro, "__qualname__", type(coro).__name__))


def _count(loop: asyncio.AbstractEventLoop) -> dict[str, object] | None:
    done = threading.Event()
    counted: list[dict[str, object]] = []

    def count() -> None:
        tasks = asyncio.all_tasks(loop)
        names = collections.Counter(_coro_name(t) for t in tasks)
        counted.append({"tasks": len(tasks), "by_coroutine": dict(names.most_common(12))})
        done.set()

    try:
        loop.call_soon_threadsafe(count)
    except RuntimeError:  # the loop is closed
        return None
    done.wait(5.0)
    return counted[0] if counted else None


def _probe(path: Path) -> None:
    while True:
        time.sleep(INTERVAL)
        if not _loops:
            continue
        counted = _count(_loops[-1])
        if counted is None:
            continue
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**counted, "at": time.time()}))
        os.replace(tmp, path)


def main() -> int:
    path = os.environ.get(PROBE_FILE_ENV)
    if path:
        asyncio.new_event_loop = _recording_new_event_loop
        threading.Thread(target=_probe, args=(Path(path),), daemon=True, name="probe").start()
    from web.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
