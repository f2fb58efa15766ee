"""A down-track: one up-track's frames on their way to one subscriber's sender."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable

from bridge.counters import TrackCounters
from bridge.frames import EncodedFrame, EndpointId, Kind, TrackInfo
from bridge.rtc_internals import PacketTrack

logger = logging.getLogger(__name__)

VIDEO_QUEUE_FRAMES = 30
"""About one second of video; a subscriber further behind is flushed to a keyframe."""
AUDIO_QUEUE_FRAMES = 50
"""One second of 20 ms Opus packets; older ones are dropped first."""
KEYFRAME_RETRY_FRAMES = 10
"""While waiting for a keyframe, ask again after this many dropped frames: a publisher
may ignore a request (Chromium ignores one within 300 ms of its last keyframe)."""


class DownTrack(PacketTrack):
    """Feeds a subscriber's ``RTCRtpSender`` with the frames of one up-track.

    Video waits for a keyframe before the first frame and after every flush; audio
    starts anywhere. The queue is bounded: a video subscriber that falls behind is
    flushed and waits for the next keyframe, so memory never grows with lag.
    """

    def __init__(
        self,
        info: TrackInfo,
        subscriber: EndpointId,
        request_keyframe: Callable[[], None],
        *,
        forwarding: bool = True,
    ) -> None:
        super().__init__(str(info.kind), info.clock_rate)
        self.info = info
        """The up-track this down-track carries."""
        self.subscriber = subscriber
        """The endpoint receiving it."""
        self.counters = TrackCounters()
        """Frames in (from the up-track), out (to the sender), dropped; keyframe requests."""
        self._request_keyframe = request_keyframe
        self._video = info.kind is Kind.VIDEO
        limit = VIDEO_QUEUE_FRAMES if self._video else AUDIO_QUEUE_FRAMES
        self._limit = limit
        self._queue: collections.deque[EncodedFrame] = collections.deque()
        self._wakeup = asyncio.Event()
        self._forwarding = forwarding
        self._needs_keyframe = self._video
        self._waited = 0
        self._ended = False
        self._started = False

    @property
    def forwarding(self) -> bool:
        """Whether frames currently flow (the patch matrix pauses and resumes it)."""
        return self._forwarding

    @property
    def waiting_for_keyframe(self) -> bool:
        """Whether video is being dropped until the next keyframe."""
        return self._needs_keyframe

    def set_forwarding(self, forwarding: bool) -> None:
        """Pause or resume; resuming video asks for a keyframe at once."""
        if forwarding == self._forwarding:
            return
        self._forwarding = forwarding
        self._queue.clear()
        if forwarding and self._video:
            self._needs_keyframe = True
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (the up-track throttles)."""
        if not self._video or self._ended:
            return
        self.counters.keyframes_requested += 1
        self._request_keyframe()

    def push(self, frame: EncodedFrame) -> None:
        """Offer one frame of the up-track (called on the event loop, never blocks)."""
        if not self._forwarding or self._ended or not self._started:
            # Before the sender first reads, frames would only turn into latency.
            return
        self.counters.frames_in += 1
        self.counters.bytes_in += len(frame.data)
        if self._needs_keyframe:
            if not frame.keyframe:
                self.counters.frames_dropped += 1
                self._waited += 1
                if self._waited % KEYFRAME_RETRY_FRAMES == 0:
                    self.request_keyframe()
                return
            self._needs_keyframe = False
            self._waited = 0
        if len(self._queue) >= self._limit:
            if self._video:
                self._flush(frame)
                return
            self._queue.popleft()
            self.counters.frames_dropped += 1
        self._queue.append(frame)
        self._wakeup.set()

    def _flush(self, frame: EncodedFrame) -> None:
        self.counters.frames_dropped += len(self._queue)
        self._queue.clear()
        logger.info(
            "session %s site %s track %s: subscriber %s fell behind, flushed to keyframe",
            self.info.session_id,
            self.info.site,
            self.info.track_id,
            self.subscriber,
        )
        if frame.keyframe:
            self._queue.append(frame)
            self._wakeup.set()
            return
        self.counters.frames_dropped += 1
        self._needs_keyframe = True
        self.request_keyframe()

    def end(self) -> None:
        """No more frames: the sender's ``recv`` ends and its RTP loop exits."""
        self._ended = True
        self._queue.clear()
        self._wakeup.set()

    async def next_frame(self) -> tuple[bytes, int] | None:
        if not self._started:
            self._started = True
            # The sender reads for the first time once the subscriber's transport is
            # up: frames start flowing now, from a fresh keyframe.
            if self._needs_keyframe:
                self.request_keyframe()
        while not self._queue:
            if self._ended:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        frame = self._queue.popleft()
        self.counters.frames_out += 1
        self.counters.bytes_out += len(frame.data)
        return frame.data, frame.timestamp

    def stop(self) -> None:
        self.end()
        super().stop()
