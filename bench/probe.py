"""``reception-bridge`` with a probe: the server's asyncio task count, seen from outside.

    RB_PROBE_FILE=/tmp/probe.json python -m bench.probe serve

Runs the command line (``web.cli.main``) unchanged, and once a second writes one JSON
object to ``RB_PROBE_FILE`` (atomically, by rename): the number of live asyncio tasks of
the server's event loop, the commonest coroutines among them, and when they were
counted. RSS, descriptors and UDP sockets are read from ``/proc`` by the bench itself
(``bench.lifecycle.Sample``); tasks can only be counted inside the process. The count
runs on the loop (``call_soon_threadsafe``), so it is exact; a probe thread waits for it
and writes the file.

On request it also counts the live Python objects by type (``gc.get_objects()``, on the
loop, so nothing moves meanwhile): :func:`request_objects` leaves a request file next to
``RB_PROBE_FILE``, the probe answers in ``<probe>.objects.json`` (a soak samples the idle
server with it and prints the types that grew).

For benchmarks and leak tests only: the product has no such hook.
"""

from __future__ import annotations

import asyncio
import collections
import gc
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


OBJECT_TYPES = 60
"""How many of the commonest object types an objects census keeps."""


def objects_paths(path: Path) -> tuple[Path, Path]:
    """The request file and the answer file of an objects census, beside ``path``."""
    return path.with_suffix(".objects.request"), path.with_suffix(".objects.json")


def _objects(loop: asyncio.AbstractEventLoop) -> dict[str, int] | None:
    done = threading.Event()
    counted: list[dict[str, int]] = []

    def count() -> None:
        gc.collect()
        names = collections.Counter(
            f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
        )
        counted.append(dict(names.most_common(OBJECT_TYPES)))
        done.set()

    try:
        loop.call_soon_threadsafe(count)
    except RuntimeError:
        return None
    done.wait(30.0)
    return counted[0] if counted else None


def _probe(path: Path) -> None:
    request, answer = objects_paths(path)
    while True:
        time.sleep(INTERVAL)
        if not _loops:
            continue
        if request.exists():
            objects = _objects(_loops[-1])
            if objects is not None:
                tmp = answer.with_suffix(".tmp")
                tmp.write_text(json.dumps({"objects": objects, "at": time.time()}))
                os.replace(tmp, answer)
                request.unlink(missing_ok=True)
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
