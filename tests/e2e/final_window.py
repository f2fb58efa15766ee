"""Decoding figures over the final 10 s of a measurement (issue 8, DESIGN.md).

A figure is ``framesDecoded`` at the end minus ``framesDecoded`` 10 s before the end,
divided by the time between the two ``RTCPeerConnection.getStats()`` reports (their own
timestamps, so a slow poll does not distort it); ``freezeCount`` over the same window.
One window per measurement, the last: never the best of several, so a starved window
fails, and the 1-minute load average printed with it says how starved the machine was.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tests.e2e.harness import RoomPage

FINAL_WINDOW_S = 10.0
"""The window every frame rate and freeze count is judged over."""
LEAD_IN_S = 5.0
"""How long a measurement runs before its final window."""
MIN_FPS = 15.0
"""Frames decoded per second the bridge must deliver (the fake camera sends about 20)."""

Stream = tuple[RoomPage, str]
"""A page and the site (its stats key) whose media it receives."""


@dataclass(frozen=True, slots=True)
class Window:
    """What one page decoded and received from one site over one stretch of time."""

    room: str
    """The receiving page."""
    key: str
    """The site it receives."""
    seconds: float
    """Time between the two stats reports, from their own timestamps."""
    frames: int
    """Video frames decoded in the window."""
    fps: float
    """``frames / seconds``."""
    freezes: int
    """Video freezes Chromium counted in the window (``freezeCount`` delta)."""
    keyframes: int
    """Keyframes decoded in the window: one the relay asked for shows up here."""
    packets_lost: int
    """Video packets lost in the window."""
    audio_packets: int
    """Audio packets received in the window."""
    audio_samples: int
    """Audio samples received in the window."""
    frame_width: int
    """Width of the last decoded frame."""
    frames_received: int
    """Video frames the receiver assembled in the window (decoded or not)."""
    frames_dropped: int
    """Video frames it dropped before decoding (``framesDropped`` delta)."""
    freeze_ms: int
    """Time spent frozen in the window (``totalFreezesDuration`` delta)."""
    nacks: int
    """NACKs it sent in the window: packets it asked again for."""
    plis: int
    """PLIs and FIRs it sent in the window: keyframes it asked for."""
    jitter_buffer_ms: float
    """Average time a frame waited in its jitter buffer over the window."""
    load_1min: float
    """``os.getloadavg()[0]`` at the end of the window: the machine is shared."""


class Measurement:
    """Streams measured from now; :meth:`begin_final_window` starts the judged part.

    A stream's first seconds (first keyframe, jitter buffer filling, a load spike as the
    pages start) are not steady media: they are measured and printed, never judged.
    """

    def __init__(self, streams: Sequence[Stream]) -> None:
        self._streams = list(streams)
        self._start = _reports(self._streams)
        self._window: list[dict[str, Any]] | None = None

    def begin_final_window(self) -> None:
        """Take the reports the final window counts from."""
        self._window = _reports(self._streams)

    def finish(self) -> list[Window]:
        """The final window's figures per stream; both they and the whole measurement's
        are printed for ``pytest -s``."""
        assert self._window is not None, "the final window never began"
        end = _reports(self._streams)
        load = os.getloadavg()[0]
        windows = []
        for i, (room, key) in enumerate(self._streams):
            whole = _figures(room, key, self._start[i], end[i], load)
            window = _figures(room, key, self._window[i], end[i], load)
            print("MEASUREMENT " + json.dumps(asdict(whole), ensure_ascii=False))
            print("FINAL_WINDOW " + json.dumps(asdict(window), ensure_ascii=False))
            windows.append(window)
        return windows


def _figures(
    room: RoomPage, key: str, first: dict[str, Any], end: dict[str, Any], load: float
) -> Window:
    assert end["endpoint_id"] == first["endpoint_id"], (
        f"{room.name} <- {key}: another endpoint mid-measurement ({first} -> {end})"
    )
    seconds = (end["timestamp"] - first["timestamp"]) / 1000.0
    frames = end["framesDecoded"] - first["framesDecoded"]
    return Window(
        room=room.name,
        key=key,
        seconds=round(seconds, 3),
        frames=frames,
        fps=round(frames / seconds, 2) if seconds > 0 else 0.0,
        freezes=end["freezeCount"] - first["freezeCount"],
        keyframes=end["keyFramesDecoded"] - first["keyFramesDecoded"],
        packets_lost=end["videoPacketsLost"] - first["videoPacketsLost"],
        audio_packets=end["audioPacketsReceived"] - first["audioPacketsReceived"],
        audio_samples=end["totalSamplesReceived"] - first["totalSamplesReceived"],
        frame_width=end["frameWidth"],
        frames_received=_delta(first, end, "framesReceived"),
        frames_dropped=_delta(first, end, "framesDropped"),
        freeze_ms=round(1000 * _delta(first, end, "totalFreezesDuration")),
        nacks=_delta(first, end, "nackCount"),
        plis=_delta(first, end, "pliCount") + _delta(first, end, "firCount"),
        jitter_buffer_ms=_jitter_buffer_ms(first, end),
        load_1min=round(load, 2),
    )


def _delta(first: dict[str, Any], end: dict[str, Any], key: str) -> Any:
    """``end[key] - first[key]``; 0 for a figure the page does not report."""
    return end.get(key, 0) - first.get(key, 0)


def _jitter_buffer_ms(first: dict[str, Any], end: dict[str, Any]) -> float:
    emitted = int(_delta(first, end, "jitterBufferEmittedCount"))
    if emitted <= 0:
        return 0.0
    return round(1000.0 * float(_delta(first, end, "jitterBufferDelay")) / emitted, 1)


def _reports(streams: Sequence[Stream]) -> list[dict[str, Any]]:
    """Each stream's entry of its page's stats, one ``getStats()`` per page."""
    by_page: dict[int, dict[str, dict[str, Any]]] = {}
    entries = []
    for room, key in streams:
        if id(room) not in by_page:
            by_page[id(room)] = room.stats()
        stats = by_page[id(room)]
        assert key in stats, f"{room.name} receives nothing from {key}: {stats}{room.log_tail()}"
        entries.append(stats[key])
    return entries


def measure_final_window(*streams: Stream) -> list[Window]:
    """Measure ``streams`` together for ``LEAD_IN_S`` plus ``FINAL_WINDOW_S``; the
    figures of the final window."""
    measurement = Measurement(streams)
    # Durations below are the measurement itself, not waits for something to happen.
    time.sleep(LEAD_IN_S)
    measurement.begin_final_window()
    time.sleep(FINAL_WINDOW_S)
    return measurement.finish()


def assert_steady(windows: Sequence[Window], details: Callable[[], str] | None = None) -> None:
    """Every window decoded ``MIN_FPS`` or more, never froze, and carried sound.

    ``details`` adds to the failure message (the publishers' own figures, say).
    """
    failed = [
        w
        for w in windows
        if not (
            w.fps >= MIN_FPS
            and w.freezes == 0
            and w.frame_width > 0
            and w.audio_packets > 0
            and w.audio_samples > 0
        )
    ]
    assert not failed, (
        f"below {MIN_FPS} fps, frozen or silent over the final {FINAL_WINDOW_S:.0f} s: "
        f"{[asdict(w) for w in failed]}\n{details() if details else ''}"
    )
