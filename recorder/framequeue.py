"""The bounded queue between the relay's event loop and a recording worker process.

Policy, when the worker falls behind (a slow disk, a stalled or crashed worker):

- **The relay is never blocked.** The recorder's sink is called on the event loop for
  every frame; it only appends to this queue (a lock held for an append). A sender
  thread pickles the messages and writes them into the worker's pipe; that write may
  block while the worker does not read, the event loop never does.
- **Bounded by bytes.** Every message costs its payload plus :data:`MESSAGE_OVERHEAD`
  bytes (the tuple, the objects, the pickle), so many small packets are bounded too.
  :class:`QueueLimits`: ``max_bytes`` of frames per recording (default 4 MiB), of which
  ``audio_bytes`` (default 512 KiB) is audio's own share and the rest video's. Control
  messages (a few, of a few hundred bytes) and what the worker's pipe holds (64 KiB)
  come on top.
- **Video drops to the next keyframe.** A video frame that does not fit into video's
  share is dropped, and so is every later frame of that track until a keyframe comes
  while video's share is at most half full (:data:`RESUME_AT`); until then the sink asks
  the publisher for a keyframe (the up-track throttles the requests). The file never
  gets a frame that cannot be decoded; the picture stands still over the gap.
- **Audio beyond its own bound.** An audio packet that does not fit into audio's share
  is dropped; audio resumes with the next packet that fits (each Opus packet decodes
  on its own). Audio keeps flowing while video is dropped.
- **Control messages are never dropped** (a track announced or ended, sync, stop, gap).
- **Counted and written down.** Each run of dropped frames of a track is counted
  (frames, bytes, first and last arrival). When the track resumes, the run goes to the
  worker as a ``gap`` message just ahead of the frame that resumes it (or before ``stop``),
  and the worker writes it into the manifest's ``gaps`` (file, site, track, from/to
  milliseconds since the recording's start, frames and bytes dropped).
- **A worker that dies** loses what was still queued for it: those frames are counted
  into the tracks' runs, which the restarted worker's queue adopts and records. Frames
  already in the pipe or read but not yet muxed are not counted. A killed server loses
  at most ``max_bytes`` per recording plus the pipe.
"""

from __future__ import annotations

import enum
import logging
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bridge.frames import EncodedFrame, Kind, TrackInfo

logger = logging.getLogger(__name__)

FRAME = "frame"
GAP = "gap"
MESSAGE_OVERHEAD = 200
"""Bytes a queued message costs beyond its payload."""
RESUME_AT = 0.5
"""A video track that dropped frames resumes at a keyframe once video's share is at most
this full, so it does not drop again at once."""
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """How much one recording's queue may hold in the relay's process."""

    max_bytes: int = 4 * MiB
    """Frames queued (audio and video, each costing its payload and
    :data:`MESSAGE_OVERHEAD`); the few control messages come on top."""
    audio_bytes: int = 512 * 1024
    """Audio's share of ``max_bytes``; video gets the rest."""

    def __post_init__(self) -> None:
        if not 0 < self.audio_bytes < self.max_bytes:
            raise ValueError("need 0 < audio_bytes < max_bytes")

    @property
    def video_bytes(self) -> int:
        return self.max_bytes - self.audio_bytes


class Admission(enum.Enum):
    """What became of a frame handed to the queue."""

    QUEUED = "queued"
    DROPPED = "dropped"
    WANTS_KEYFRAME = "wants_keyframe"
    """Dropped; there is room again, so a keyframe would resume the track."""
    CLOSED = "closed"
    """Dropped: the worker is gone."""


@dataclass(slots=True)
class DropRun:
    """Consecutive frames of one track that were dropped."""

    track_id: str
    site: str
    kind: str
    first: float
    """Arrival (``time.monotonic()``) of the first dropped frame."""
    last: float
    """Arrival of the last dropped frame, or of the frame that resumed the track."""
    frames: int = 0
    bytes: int = 0

    def add(self, arrival: float, size: int) -> None:
        self.first = min(self.first, arrival)
        self.last = max(self.last, arrival)
        self.frames += 1
        self.bytes += size

    def merge(self, other: DropRun) -> None:
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.frames += other.frames
        self.bytes += other.bytes

    def message(self) -> tuple[Any, ...]:
        return (
            GAP,
            self.track_id,
            self.site,
            self.kind,
            self.first,
            self.last,
            self.frames,
            self.bytes,
        )

    @staticmethod
    def from_message(message: tuple[Any, ...]) -> DropRun:
        _, track_id, site, kind, first, last, frames, size = message
        return DropRun(track_id, site, kind, first, last, frames, size)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One recording queue's state (for metrics)."""

    messages: int
    """Messages waiting, the one being written included (the queue's depth)."""
    bytes: int
    """Bytes they cost."""
    max_bytes: int
    """The bound."""
    lag_s: float
    """How long the oldest waiting message has waited (0 when empty)."""
    peak_bytes: int
    """The most the queue has held."""
    dropped_frames: int
    """Frames dropped so far (a full queue, a dead worker)."""
    dropped_bytes: int
    """Their payload bytes."""
    gaps: int
    """Runs of dropped frames handed to the worker so far."""


class Writer(Protocol):
    """The worker's end of the pipe as the sender thread writes it."""

    def send_bytes(self, buf: bytes) -> None: ...


@dataclass(slots=True)
class _Item:
    message: tuple[Any, ...]
    kind: str
    """``video``, ``audio`` or ``control``."""
    cost: int
    since: float
    arrival: float = 0.0
    size: int = 0


@dataclass(slots=True)
class _TrackState:
    info: TrackInfo
    run: DropRun | None = None
    waiting_keyframe: bool = False


class FrameQueue:
    """Messages for one worker, bounded by :class:`QueueLimits`; see the module's policy."""

    def __init__(
        self,
        writer: Writer,
        limits: QueueLimits | None = None,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or QueueLimits()
        self.name = name
        self._writer = writer
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[_Item] = deque()
        self._bytes = {"video": 0, "audio": 0, "control": 0}
        self._inflight: _Item | None = None
        self._tracks: dict[str, _TrackState] = {}
        self._orphan_runs: dict[str, DropRun] = {}
        """Runs adopted from a dead worker's queue for tracks not seen here yet."""
        self._closing = False
        self._broken = False
        self._peak = 0
        self._dropped_frames = 0
        self._dropped_bytes = 0
        self._gaps = 0
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-queue-{name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    # -- the event loop's side -----------------------------------------------------------

    def put_control(self, message: tuple[Any, ...]) -> bool:
        """Queue a control message (never dropped); False if the worker is gone."""
        with self._cond:
            if self._closing or self._broken:
                return False
            self._append(_Item(message, "control", MESSAGE_OVERHEAD, self._clock()))
            return True

    def put_frame(self, track: TrackInfo, frame: EncodedFrame) -> Admission:
        """Queue ``frame`` or drop it by the policy; never blocks for long."""
        size = len(frame.data)
        cost = size + MESSAGE_OVERHEAD
        video = track.kind is Kind.VIDEO
        with self._cond:
            state = self._tracks.get(track.track_id)
            if state is None:
                state = self._tracks[track.track_id] = self._new_state(track)
            if self._closing or self._broken:
                self._drop(state, frame.arrival, size)
                return Admission.CLOSED
            if video:
                used, cap = self._bytes["video"], self.limits.video_bytes
                if state.waiting_keyframe:
                    room = used + cost <= cap * RESUME_AT
                    if not (frame.keyframe and room):
                        self._drop(state, frame.arrival, size)
                        return Admission.WANTS_KEYFRAME if room else Admission.DROPPED
                elif used + cost > cap:
                    state.waiting_keyframe = True
                    self._drop(state, frame.arrival, size)
                    return Admission.DROPPED
            elif self._bytes["audio"] + cost > self.limits.audio_bytes:
                self._drop(state, frame.arrival, size)
                return Admission.DROPPED
            if state.run is not None:
                self._end_run(state, frame.arrival)
            message = (
                FRAME,
                track.track_id,
                frame.data,
                frame.timestamp,
                frame.keyframe,
                frame.arrival,
            )
            kind = "video" if video else "audio"
            self._append(_Item(message, kind, cost, self._clock(), frame.arrival, size))
            return Admission.QUEUED

    def flush_gaps(self) -> None:
        """Hand every open run to the worker now (before ``stop``)."""
        with self._cond:
            for state in self._tracks.values():
                if state.run is not None:
                    self._end_run(state, None)
            for run in self._orphan_runs.values():
                self._gap(run)
            self._orphan_runs.clear()

    # -- after the worker is gone ------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stop the sender thread once it has written what is queued (or the pipe broke)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def discard(self) -> list[DropRun]:
        """The worker is dead: count everything still queued as dropped, return every
        run not handed to a worker (frames lost with it, gaps it never recorded)."""
        with self._cond:
            self._closing = True
            self._broken = True
            self._discard_locked()
            runs = [s.run for s in self._tracks.values() if s.run is not None]
            runs += self._orphan_runs.values()
            for state in self._tracks.values():
                state.run = None
            self._orphan_runs.clear()
            self._cond.notify_all()
            return runs

    def adopt(self, runs: list[DropRun], before: QueueStats | None = None) -> None:
        """Take over a dead worker's runs (and its counters, so stats are per recording)."""
        with self._cond:
            for run in runs:
                state = self._tracks.get(run.track_id)
                if state is None:
                    self._orphan_runs[run.track_id] = run
                elif state.run is None:
                    state.run = run
                else:
                    state.run.merge(run)
                if state is not None and run.kind == Kind.VIDEO:
                    state.waiting_keyframe = True
            if before is not None:
                self._dropped_frames += before.dropped_frames
                self._dropped_bytes += before.dropped_bytes
                self._gaps += before.gaps
                self._peak = max(self._peak, before.peak_bytes)

    # -- metrics -------------------------------------------------------------------------

    def stats(self) -> QueueStats:
        with self._cond:
            oldest = self._inflight or (self._items[0] if self._items else None)
            return QueueStats(
                messages=len(self._items) + (1 if self._inflight else 0),
                bytes=sum(self._bytes.values()),
                max_bytes=self.limits.max_bytes,
                lag_s=max(0.0, self._clock() - oldest.since) if oldest else 0.0,
                peak_bytes=self._peak,
                dropped_frames=self._dropped_frames,
                dropped_bytes=self._dropped_bytes,
                gaps=self._gaps,
            )

    @property
    def depth(self) -> int:
        return self.stats().messages

    @property
    def lag(self) -> float:
        return self.stats().lag_s

    # -- internals (with the lock held) ----------------------------------------------------

    def _new_state(self, track: TrackInfo) -> _TrackState:
        state = _TrackState(track)
        run = self._orphan_runs.pop(track.track_id, None)
        if run is not None:
            state.run = run
            state.waiting_keyframe = track.kind is Kind.VIDEO
        return state

    def _append(self, item: _Item) -> None:
        self._items.append(item)
        self._bytes[item.kind] += item.cost
        self._peak = max(self._peak, sum(self._bytes.values()))
        self._cond.notify()

    def _drop(self, state: _TrackState, arrival: float, size: int) -> None:
        self._dropped_frames += 1
        self._dropped_bytes += size
        if state.run is None:
            info = state.info
            state.run = DropRun(info.track_id, info.site, str(info.kind), arrival, arrival)
            if not (self._closing or self._broken):
                logger.warning(
                    "recording %s track %s: queue full (%d bytes), dropping %s%s",
                    self.name,
                    info.track_id,
                    sum(self._bytes.values()),
                    info.kind,
                    " until the next keyframe" if info.kind is Kind.VIDEO else "",
                )
        state.run.add(arrival, size)

    def _end_run(self, state: _TrackState, resumed_at: float | None) -> None:
        run = state.run
        assert run is not None
        if resumed_at is not None:
            run.last = max(run.last, resumed_at)
        state.run = None
        state.waiting_keyframe = False
        self._gap(run)
        logger.warning(
            "recording %s track %s: %d frames (%d bytes) dropped over %.1f s",
            self.name,
            run.track_id,
            run.frames,
            run.bytes,
            run.last - run.first,
        )

    def _gap(self, run: DropRun) -> None:
        self._gaps += 1
        self._append(_Item(run.message(), "control", MESSAGE_OVERHEAD, self._clock()))

    def _discard_locked(self) -> None:
        items = list(self._items)
        if self._inflight is not None:
            items.insert(0, self._inflight)
        self._items.clear()
        for item in items:
            self._bytes[item.kind] -= item.cost
            tag = item.message[0]
            if tag == FRAME:
                state = self._tracks.get(item.message[1])
                if state is not None:
                    self._drop(state, item.arrival, item.size)
            elif tag == GAP:
                run = DropRun.from_message(item.message)
                self._gaps -= 1
                state = self._tracks.get(run.track_id)
                if state is None:
                    self._orphan_runs[run.track_id] = run
                elif state.run is None:
                    state.run = run
                else:
                    state.run.merge(run)
        self._inflight = None
        self._bytes = {"video": 0, "audio": 0, "control": 0}

    # -- the sender thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closing:
                    self._cond.wait()
                if not self._items or self._broken:
                    return
                item = self._inflight = self._items.popleft()
            try:
                self._writer.send_bytes(pickle.dumps(item.message, pickle.HIGHEST_PROTOCOL))
            except (OSError, ValueError):
                with self._cond:
                    if not self._broken:
                        logger.error("recording %s: the worker's pipe is closed", self.name)
                    self._broken = True
                    return
            with self._cond:
                if self._inflight is item:
                    self._inflight = None
                    self._bytes[item.kind] -= item.cost
