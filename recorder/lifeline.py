"""Child processes die with the server.

The recorder's child processes are the recording workers (one per recording), the
media pool of :class:`recorder.isolation.IsolatedRunner` (remux, extract, recovery,
verify), multiprocessing's resource tracker, and ffmpeg composing a file. A server
killed with SIGKILL runs no clean-up, so each child must notice by itself:

- a Python child calls :func:`tie_to_parent` first thing. It asks Linux to send it
  :data:`LIFELINE_SIGNAL` when its parent dies (``prctl(PR_SET_PDEATHSIG)``, through
  ctypes) and handles that signal: if the parent process is really gone (the parent
  pid changed; the signal also comes when merely the *thread* that started the child
  ends, and then the server lives on), it arms a hard stop (``alarm``: the kernel kills
  the process after :data:`HARD_STOP_SECONDS` even if Python is stuck) and calls the
  child's ``on_orphaned`` (a recording worker closes its files and returns, a pool
  worker exits at once). If the parent died before the line was tied, the child
  finds out from the pid right away;
- a recording worker also sees end-of-file on its inbox pipe, whose only writer is
  the server (``recorder/worker.py``), and checks the parent pid when idle, so it
  closes its files on platforms without ``prctl`` too;
- an external program (ffmpeg) is started through :func:`exec_prefix`: a small Python
  stub sets the parent-death signal to SIGKILL, checks the parent is still there and
  execs the program (the setting survives ``exec``);
- multiprocessing's resource tracker (started by every ``spawn`` start, it unlinks the
  named semaphores of the pool's queues that a killed process leaves behind) reads a
  pipe whose write ends only the server and its spawned children hold; once they are
  gone it reads end-of-file, cleans up and exits. It needs no signal of its own.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
LIFELINE_SIGNAL = signal.SIGUSR1
"""Sent to a child when its parent dies (a signal nothing else here uses)."""
HARD_STOP_SECONDS = 5
"""An orphaned child that has not exited by then is killed by the kernel (SIGALRM)."""

_EXEC_STUB = """\
import ctypes, os, sys
parent = int(sys.argv[1])
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, ctypes.c_ulong(9), 0, 0, 0)
except Exception:
    pass
if os.getppid() != parent:
    sys.exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""


def set_parent_death_signal(signum: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, signum)`` for the calling process; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result = libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum), 0, 0, 0)
    except (OSError, AttributeError):
        return False
    if result != 0:
        logger.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


def arm_hard_stop(seconds: int = HARD_STOP_SECONDS) -> None:
    """Let the kernel end this process in ``seconds`` (SIGALRM, default action)."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(max(1, seconds))


def tie_to_parent(
    parent_pid: int,
    on_orphaned: Callable[[], None],
    *,
    hard_stop: int = HARD_STOP_SECONDS,
) -> bool:
    """Call ``on_orphaned`` (in the main thread) when the process ``parent_pid`` dies.

    Call it first thing in the child, from the main thread. Returns whether the kernel
    will signal the parent's death (Linux); without it the caller must watch for itself.
    """

    def orphaned() -> bool:
        return os.getppid() != parent_pid

    def handler(signum: int, frame: FrameType | None) -> None:
        if not orphaned():
            return  # the thread that started us ended; the server lives on
        arm_hard_stop(hard_stop)
        on_orphaned()

    signal.signal(LIFELINE_SIGNAL, handler)
    armed = set_parent_death_signal(LIFELINE_SIGNAL)
    if orphaned():
        handler(LIFELINE_SIGNAL, None)
    return armed


def exit_when_orphaned(parent_pid: int) -> None:
    """Pool initializer: a media pool worker whose server died exits at once."""
    tie_to_parent(parent_pid, lambda: os._exit(1))


def exec_prefix() -> list[str]:
    """Put before a command line so the program is killed when this process dies."""
    return [sys.executable, "-c", _EXEC_STUB, str(os.getpid())]
