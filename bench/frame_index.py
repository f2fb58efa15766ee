"""Complete frames placed on their publisher's frame numbers, so that a benchmark counts
the frames *published in its window* that reached a subscriber, whenever they arrived.

Counting the frames that arrive during a window over-counts whenever frames published
earlier arrive in it: a relay that fell behind and catches up, a subscriber process that
drains a backlog. :class:`FrameIndex` counts instead, among the publisher's frames
``[first, end)``, those that arrived complete: at most ``end - first`` by construction.

The publisher (``bench.replay.ReplayTrack``) stamps frame ``k`` with RTP timestamp
``k * TICKS_PER_FRAME`` and counts the frames it has handed to its sender; the relay
keeps timestamp differences (it adds a constant offset per down-track, changed only
when it re-bases, and the senders add a random origin). So a subscriber's timestamps
give each frame's number up to one constant per stretch of stream (a *segment*: a
re-base starts another, seen as a timestamp step that is not a whole number of frames).
That constant is bounded by the publisher's count: a frame seen when the publisher had
handed on ``published`` frames is one of frames ``0 .. published - 1``; the least such
bound over a segment's frames is its offset (exact as soon as one frame arrived before
the publisher handed on the next, which a relay forwarding in milliseconds does within
a few frames). A wrong offset can only shift the counted frames, never count a frame
twice or more frames than the window holds.

Each frame also keeps its bound; its excess over the offset is how many frames later
than the segment's fastest it was seen (:meth:`FrameIndex.count`), the delivery lag
in frames (relay queueing and the subscriber's own lag together).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

TICKS_PER_FRAME = 90000 // 30
"""RTP ticks between two frames of :class:`bench.replay.ReplayTrack` (90 kHz, 30 fps)."""
ABSENT = -(1 << 62)
"""A frame number not seen complete."""
MAX_STEP = 30 * 3600
"""Frames a timestamp may jump ahead within one segment (further starts another)."""
_GROW = 1024


def _signed(delta: int) -> int:
    delta &= 0xFFFFFFFF
    return delta - (1 << 32) if delta >= 1 << 31 else delta


@dataclass(slots=True)
class _Segment:
    base: int
    """RTP timestamp of the segment's frame 0 (its first frame seen)."""
    offset: int
    """Publisher frame number = segment frame number + offset (the least bound seen)."""
    bounds: array[int] = field(default_factory=lambda: array("q"))
    """Per segment frame number: the bound it was seen with, or ABSENT."""


class FrameIndex:
    """One RTP stream's complete frames, by publisher frame number."""

    def __init__(self, ticks_per_frame: int = TICKS_PER_FRAME) -> None:
        self.ticks = ticks_per_frame
        self.segments: list[_Segment] = []
        self.pending: list[int] = []
        """Timestamps of complete frames not placed yet (:meth:`place`)."""
        self.placed = 0
        self.dropped = 0
        """Frames older than their segment's first (reordered), not counted."""

    def place(self, published: int) -> None:
        """Place the pending frames, all seen when the publisher had handed on
        ``published`` frames at most (read it after the frames arrived)."""
        pending, self.pending = self.pending, []
        for timestamp in pending:
            self._place(timestamp, published - 1)

    def _place(self, timestamp: int, newest: int) -> None:
        segment = self.segments[-1] if self.segments else None
        number = -1
        if segment is not None:
            delta = _signed(timestamp - segment.base)
            number, rest = divmod(delta, self.ticks)
            if rest or number > MAX_STEP or number < -MAX_STEP:
                segment = None  # re-based: another segment
        if segment is None:
            segment = _Segment(timestamp, newest)
            self.segments.append(segment)
            number = 0
        if number < 0:
            self.dropped += 1
            return
        bound = newest - number
        bounds = segment.bounds
        if number >= len(bounds):
            bounds.extend(array("q", [ABSENT]) * max(number + 1 - len(bounds), _GROW))
        if bounds[number] == ABSENT:
            bounds[number] = bound
            self.placed += 1
        if bound < segment.offset:
            segment.offset = bound

    def count(self, first: int, end: int) -> tuple[int, int]:
        """(How many of the publisher's frames ``first .. end - 1`` were seen complete,
        the most frames any of them was seen after the fastest of its segment)."""
        return merged_count([self], first, end)


def merged_count(indexes: list[FrameIndex], first: int, end: int) -> tuple[int, int]:
    """:meth:`FrameIndex.count` over several streams of one subscriber (a renewed
    m-line or connection brings another SSRC): a frame seen on two counts once."""
    if end <= first:
        return 0, 0
    seen = bytearray(end - first)
    lag = 0
    for index in indexes:
        for segment in index.segments:
            offset, bounds = segment.offset, segment.bounds
            for number in range(max(first - offset, 0), min(end - offset, len(bounds))):
                bound = bounds[number]
                if bound != ABSENT:
                    seen[number + offset - first] = 1
                    lag = max(lag, bound - offset)
    return seen.count(1), lag


@dataclass
class Windows:
    """What a benchmark shares with its subscriber processes to count windows by frame
    number (multiprocessing arrays without locks: one writer per element).

    The benchmark keeps ``published[s]`` at the count of frames session ``s``'s publisher
    handed to its sender, sets ``start`` (``time.monotonic()``, one clock for every
    process on Linux) when a window opens and, once it closed, writes each session's
    frame numbers ``(first, end)`` at ``request[1 + 2 s]`` and ``request[2 + 2 s]``, then
    a new generation at ``request[0]``. Each subscriber process answers, after its next
    drain, for each of its subscribers ``i``: ``counts[i]`` frames of the window seen,
    ``lags[i]`` their delivery lag in frames (:meth:`FrameIndex.count`), ``gaps[i]`` the
    longest pause between two of its drains since ``start`` (seconds: a datagram waits in
    the socket at most that long), then ``answered[i]`` = the generation.
    """

    published: Any
    request: Any
    start: Any
    counts: Any
    lags: Any
    gaps: Any
    answered: Any
