"""The recorder's :class:`bridge.frames.FrameSink`: hands every frame to the worker."""

from __future__ import annotations

import logging

from bridge.frames import EncodedFrame, TrackInfo
from recorder.worker import ENDED, FRAME, TRACK, RecordingWorker

logger = logging.getLogger(__name__)


class RecordingSink:
    """Attached to a session's hub; called on the relay's loop, never blocks.

    The frame bytes are pickled and written to the worker by the queue's feeder
    thread; if the worker died, frames are dropped (the relay carries on).
    """

    def __init__(self, worker: RecordingWorker) -> None:
        self.worker = worker
        self._lost = False

    def on_track(self, track: TrackInfo) -> None:
        self._send((TRACK, track))

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        self._send(
            (FRAME, track.track_id, frame.data, frame.timestamp, frame.keyframe, frame.arrival)
        )

    def on_track_ended(self, track: TrackInfo) -> None:
        self._send((ENDED, track.track_id))

    def _send(self, message: tuple[object, ...]) -> None:
        if not self.worker.send(message) and not self._lost:
            self._lost = True
            logger.error(
                "session %s: recording worker is gone (exit code %s); frames are dropped",
                self.worker.session_id,
                self.worker.process.exitcode,
            )
