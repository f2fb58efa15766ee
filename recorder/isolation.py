"""Run FFmpeg-heavy functions (remux, extract, recovery) in a separate process.

A native crash there breaks the pool, not the server; the pool is then rebuilt.
The pool's workers die with the server (``recorder/lifeline.py``): each ties itself
to the server's pid when it starts, and exits when the kernel says the server died.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from recorder.lifeline import exit_when_orphaned

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class IsolatedRunner:
    """A one-process pool for media jobs, restarted after a crash."""

    def __init__(self, workers: int = 1) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_when_orphaned,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args)`` in the pool; a crashed pool raises ``RuntimeError``."""
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, _call, fn, args, kwargs)
        except BrokenProcessPool:
            logger.error("media worker process died running %s", getattr(fn, "__name__", fn))
            self._pool = None
            pool.shutdown(wait=False)
            raise RuntimeError("the media worker process died") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _call(fn: Callable[..., T], args: tuple[object, ...], kwargs: dict[str, object]) -> T:
    return fn(*args, **kwargs)
