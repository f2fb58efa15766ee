"""An up-track: one publisher track, taken as encoded frames and fanned out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bridge.counters import MediaTotals, TrackCounters
from bridge.downtrack import DownTrack
from bridge.frames import EncodedFrame, EndpointId, FrameSink, Kind, TrackInfo
from bridge.keyframes import is_keyframe

logger = logging.getLogger(__name__)

KEYFRAME_INTERVAL = 0.3
"""Least time between two keyframe requests sent to a publisher (seconds)."""

RTP_TIMESTAMP_MODULO = 1 << 32
"""RTP timestamps wrap at 32 bits."""

KeyframeSender = Callable[[], Awaitable[bool]]
"""Sends a PLI to the publisher; False when it could not (no media seen yet)."""


class UpTrack:
    """A publisher's track inside a hub: frames in, down-tracks and sinks out.

    Keyframe requests from any number of subscribers collapse into at most one PLI
    per :data:`KEYFRAME_INTERVAL`; a request inside the interval is sent at its end,
    unless a keyframe arrives from the publisher first (:meth:`keyframe_arrived`): every
    down-track that asked gets that one. Subscribers joining in a burst then cost the
    publisher one keyframe, not two.
    """

    def __init__(
        self,
        info: TrackInfo,
        rtp_codec: RTCRtpCodecParameters,
        send_keyframe_request: KeyframeSender,
        sinks: Sequence[FrameSink],
        *,
        clock: Callable[[], float] = time.monotonic,
        forwards_frames: bool = True,
    ) -> None:
        self.info = info
        """Who publishes it and how it is coded."""
        self.rtp_codec = rtp_codec
        """The codec as negotiated with the publisher (subscribers are offered it)."""
        self.counters = TrackCounters()
        """Frames in from the publisher, out to down-tracks, PLIs sent."""
        self._downtracks: dict[EndpointId, DownTrack] = {}
        self._detached = TrackCounters()
        self._send_keyframe_request = send_keyframe_request
        self._sinks = sinks
        self._clock = clock
        self._last_request = -KEYFRAME_INTERVAL
        self._pending: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._offset = 0
        self._last: tuple[int, float] | None = None
        self._rebase = False
        self.ended = False
        """True once the publisher's track has stopped."""
        self.sources = 1
        """Publish connections that have fed this track (more than one after a republish)."""
        self._forwards_frames = forwards_frames

    def __repr__(self) -> str:
        return f"UpTrack({self.info.track_id} {self.info.kind} {self.info.site})"

    @property
    def downtracks(self) -> Mapping[EndpointId, DownTrack]:
        """Down-tracks by subscriber endpoint id (the hub adds and removes them)."""
        return self._downtracks

    def attach(self, downtrack: DownTrack) -> None:
        """Fan out to ``downtrack`` from now on; only :class:`bridge.hub.Hub` calls this."""
        self._downtracks[downtrack.subscriber] = downtrack

    def detach(self, subscriber: EndpointId) -> DownTrack | None:
        """Stop fanning out to ``subscriber`` and end its down-track; only the hub calls this."""
        downtrack = self._downtracks.pop(subscriber, None)
        if downtrack is not None:
            downtrack.end()
            self._detached.add(downtrack.counters)
        return downtrack

    def rebind(self, send_keyframe_request: KeyframeSender) -> None:
        """A new publish connection feeds this track from now on (a republish).

        Subscribers keep their down-tracks and m-lines: the new source's timestamps are
        shifted to carry on from the old one's (by the wall-clock time between them),
        and every video down-track waits for the new source's first keyframe, which is
        asked for at once.
        """
        if self.ended:
            raise RuntimeError(f"track {self.info.track_id} has ended")
        self._send_keyframe_request = send_keyframe_request
        self._rebase = True
        self.sources += 1
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._last_request = -KEYFRAME_INTERVAL
        for downtrack in self._downtracks.values():
            downtrack.resync()
        logger.info(
            "session %s site %s track %s: fed by a new publish connection (%d)",
            self.info.session_id,
            self.info.site,
            self.info.track_id,
            self.sources,
        )
        self.request_keyframe()

    def _timestamp(self, timestamp: int, arrival: float) -> int:
        if self._rebase:
            self._rebase = False
            if self._last is not None:
                last_ts, last_arrival = self._last
                gap = max(1, round((arrival - last_arrival) * self.info.clock_rate))
                self._offset = (last_ts + gap - timestamp) % RTP_TIMESTAMP_MODULO
        out = (timestamp + self._offset) % RTP_TIMESTAMP_MODULO
        self._last = (out, arrival)
        return out

    def totals(self) -> MediaTotals:
        """This track's counts and those of its down-tracks, detached ones included."""
        totals = MediaTotals()
        totals.up.add(self.counters)
        totals.down.add(self._detached)
        for downtrack in self._downtracks.values():
            totals.down.add(downtrack.counters)
        return totals

    def on_frame(self, data: bytes, timestamp: int) -> None:
        """One depayloaded frame from the publisher (on the event loop).

        Without ``forwards_frames`` (packet mode), frames only go to the sinks: the
        down-tracks forward packets, and the counters count them
        (:class:`bridge.packets.PacketSource`).
        """
        if self.ended:
            return
        arrival = self._clock()
        frame = EncodedFrame(
            data=data,
            timestamp=self._timestamp(timestamp, arrival),
            keyframe=is_keyframe(self.info.codec, data),
            arrival=arrival,
        )
        if self._forwards_frames:
            if frame.keyframe:
                self.keyframe_arrived()
            self.counters.frames_in += 1
            self.counters.bytes_in += len(data)
            for downtrack in self._downtracks.values():
                if downtrack.forwarding:
                    downtrack.push(frame)
                    self.counters.frames_out += 1
                    self.counters.bytes_out += len(data)
        for sink in self._sinks:
            try:
                sink.on_frame(self.info, frame)
            except Exception:
                logger.exception(
                    "session %s site %s track %s: sink %r failed on a frame",
                    self.info.session_id,
                    self.info.site,
                    self.info.track_id,
                    sink,
                )

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, throttled; audio needs none."""
        if self.info.kind is not Kind.VIDEO or self.ended or self._pending is not None:
            return
        wait = self._last_request + KEYFRAME_INTERVAL - self._clock()
        if wait > 0:
            self._pending = asyncio.get_running_loop().call_later(wait, self._send_now)
            return
        self._send_now()

    def keyframe_arrived(self) -> None:
        """A keyframe from the publisher is being forwarded: a request still waiting
        out the interval was made before it, so it is answered and not sent."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _send_now(self) -> None:
        self._pending = None
        if self.ended:
            return
        self._last_request = self._clock()
        self.counters.keyframes_requested += 1
        task = asyncio.ensure_future(self._send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self) -> None:
        try:
            sent = await self._send_keyframe_request()
        except Exception:
            logger.exception("track %s: keyframe request failed", self.info.track_id)
            return
        if not sent:
            # No media seen yet: try again once the interval is over.
            self.request_keyframe()

    def end(self) -> None:
        """The publisher's track stopped: end every down-track."""
        if self.ended:
            return
        self.ended = True
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        for downtrack in self._downtracks.values():
            downtrack.end()
        logger.info(
            "session %s site %s track %s ended: %s",
            self.info.session_id,
            self.info.site,
            self.info.track_id,
            self.counters.as_dict(),
        )
