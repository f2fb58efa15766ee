"""The recorder's :class:`bridge.frames.FrameSink`: hands every frame to the worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bridge.frames import EncodedFrame, TrackId, TrackInfo
from recorder.framequeue import Admission
from recorder.worker import ENDED, TRACK, RecordingWorker

logger = logging.getLogger(__name__)

KEYFRAME_REQUEST_INTERVAL = 1.0
"""Seconds between keyframe requests for a track waiting for one in the queue."""


class RecordingSink:
    """Attached to a session's hub; called on the relay's loop, never blocks.

    Frames go into the worker's bounded queue (``recorder/framequeue.py``), which
    drops by its policy when the worker falls behind; a video track that is waiting
    for a keyframe there gets one asked for through ``request_keyframe``. If the
    worker died, frames are dropped (and counted) and the relay carries on.
    """

    def __init__(
        self,
        worker: RecordingWorker,
        request_keyframe: Callable[[TrackId], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.worker = worker
        self._request_keyframe = request_keyframe
        self._clock = clock
        self._asked: dict[TrackId, float] = {}
        self._lost = False

    def on_track(self, track: TrackInfo) -> None:
        self._send((TRACK, track))

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        admission = self.worker.queue.put_frame(track, frame)
        if admission is Admission.QUEUED or admission is Admission.DROPPED:
            return
        if admission is Admission.WANTS_KEYFRAME:
            now = self._clock()
            if (
                self._request_keyframe is not None
                and now - self._asked.get(track.track_id, -KEYFRAME_REQUEST_INTERVAL)
                >= KEYFRAME_REQUEST_INTERVAL
            ):
                self._asked[track.track_id] = now
                self._request_keyframe(track.track_id)
            return
        self._gone()

    def on_track_ended(self, track: TrackInfo) -> None:
        self._send((ENDED, track.track_id))

    def _send(self, message: tuple[object, ...]) -> None:
        if not self.worker.send(message):
            self._gone()

    def _gone(self) -> None:
        if not self._lost:
            self._lost = True
            logger.error(
                "session %s: recording worker is gone (exit code %s); frames are dropped",
                self.worker.session_id,
                self.worker.process.exitcode,
            )
