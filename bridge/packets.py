"""Packet-level forwarding (``RB_FORWARDING=packet``): RTP packets, rewritten once per
packet and subscriber, with a retransmission cache.

An up-track's :class:`PacketSource` gets every media packet of the publisher before
aiortc's jitter buffer (``rtc_internals.tap_rtp``), keeps it in a ring for NACKs and
hands it to each :class:`PacketDownTrack`, which rewrites the 12-byte header (its own
SSRC, payload type, sequence number and timestamp), SRTP-protects it and sends the
datagram, all in one synchronous loop on the event loop: no packet object, no
coroutine hop, no re-packetising per subscriber.

That loop is C (``bridge/fanout.c``, one ``rb_fanout`` call per packet) for every
down-track in steady state: forwarding, not waiting for a keyframe, offsets based, its
link up on a plain UDP pair (checked every :data:`LANE_CHECK`). A down-track leaves
steady state on a pause, a resync or a link change, and is then handled packet by
packet in Python (:meth:`PacketDownTrack.forward`) until its next packet goes out; the
header rewriting, the NACK history and the counts live in its ``rb_lane`` either way.

Sequence numbers and timestamps of a down-track are continuous across pauses (the
patch matrix), keyframe waits and up-track renewals: each time it starts forwarding
again it re-bases its offsets so the next packet follows the last one sent, the
timestamp advanced by the wall-clock time in between.

Video starts at a keyframe, detected in the first packet of a frame (VP8 payload
descriptor and header, H264 IDR or SPS NAL); keyframe requests go through the
up-track's throttle as in frame mode.

Whole frames are reassembled only while something needs them (the recorder: the hub
says so through :attr:`PacketSource.frames`): then the receiver's jitter buffer and
depacketiser run once per up-track and ``tap_receiver`` gets the frames; otherwise the
packets skip both (``RtpTap.frames``) and only the receiver's RTCP bookkeeping runs. The
up-track's and down-tracks' counters come from the packets either way (a frame is a
packet with the marker bit for video, every packet for audio; bytes are RTP payload
bytes).

RTCP: a subscriber's NACK is answered from the up-track's cache (as RTX when
negotiated); sender reports carry the publisher's NTP/RTP pair translated by the
down-track's timestamp offset, so a browser keeps audio and video in sync. The up-track
sends all its down-tracks' reports in one batch every 0.5-1.5 s (one timer), not a task
per subscriber as aiortc's senders do.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from aiortc import RTCRtpReceiver, RTCRtpTransceiver

from bridge.counters import TrackCounters
from bridge.downtrack import DownTrack
from bridge.frames import EncodedFrame, EndpointId, Kind, TrackInfo
from bridge.rtc_internals import (
    LANE_SENT,
    Downlink,
    RtpTap,
    abs_send_time,
    fanout_lib,
    hook_remb,
    hook_retransmit,
    lane_array,
    new_lane,
    take_sender_reports,
    tap_rtp,
)

logger = logging.getLogger(__name__)

CACHE_PACKETS = 1024
"""Packets an up-track keeps for retransmission (a power of two; about 3 s of 2 Mbps
video). 0 turns the cache off: NACKs then go unanswered."""
HISTORY: int = fanout_lib.RB_HISTORY
"""Sequence numbers a down-track remembers to map a NACK back to the cache (1024, in C)."""
REPORT_INTERVAL = (0.5, 1.5)
"""Least and most time between two batches of sender reports (seconds): an up-track
sends every down-track's RTCP SR in one batch, at a random time in this range after the
last (RFC 3550's randomisation, and what aiortc's own sender loop waits)."""
REMB_FLOOR_BPS = 300_000
"""The publisher is never asked below this for its subscribers' sake (bit/s): about a
usable 640x480 call. A subscriber whose path carries less loses packets (NACKs repair
what they can) rather than degrading every other subscriber to its rate."""
REMB_FRESH = 5.0
"""A subscriber's REMB older than this (seconds) no longer counts: the subscriber is
gone, paused, or does not send REMB."""
REMB_INTERVAL = 0.2
"""Least time between two REMBs sent to a publisher (seconds), unless the bitrate asked
drops by :data:`REMB_DROP` or more (as libwebrtc throttles its REMBs). aiortc's
estimator hands one on every packet while it sees overuse, which a loaded relay's late
reads look like: each is an SRTCP packet and a send on the publisher's path."""
REMB_DROP = 0.03
"""A fall of the bitrate asked at least this large (a fraction) is sent at once."""
LANE_CHECK = 0.02
"""Most time between two checks that the down-tracks forwarding in C still have their
link up (seconds): DTLS connected, the same nominated pair, the same SRTP session."""


def remb_cap(own: int, subscribers: list[int], floor: int = REMB_FLOOR_BPS) -> int:
    """The bitrate asked of a publisher: its uplink estimate ``own``, lowered to the
    slowest of the ``subscribers``' fresh estimates, but not below ``floor`` for them
    (an uplink estimate under the floor is kept: the publisher cannot send more)."""
    if not subscribers:
        return own
    return min(own, max(min(subscribers), floor))


def vp8_keyframe_start(payload: bytes) -> bool:
    """Whether an RTP VP8 payload (RFC 7741) starts a keyframe: S bit set, partition 0,
    and the VP8 payload header's P bit clear."""
    if len(payload) < 2:
        return False
    first = payload[0]
    if not first & 0x10 or first & 0x07:
        return False
    offset = 1
    if first & 0x80:
        extension = payload[1]
        offset = 2
        if extension & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= offset:
                return False
            offset += 2 if payload[offset] & 0x80 else 1
        if extension & 0x40:  # L: TL0PICIDX
            offset += 1
        if extension & 0x30:  # T or K: TID/KEYIDX
            offset += 1
    return len(payload) > offset and not payload[offset] & 0x01


def h264_keyframe_start(payload: bytes) -> bool:
    """Whether an RTP H264 payload (RFC 6184) starts an access unit a decoder can start
    from: an SPS, alone or in a STAP-A (encoders send SPS and PPS before every IDR).

    An IDR slice alone is not enough: it may be the second slice of the picture, or the
    SPS before it may have gone by, and a fresh decoder could use neither.
    """
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal == 7:
        return True
    if nal == 24:  # STAP-A
        offset = 1
        while offset + 2 < len(payload):
            size = (payload[offset] << 8) | payload[offset + 1]
            if payload[offset + 2] & 0x1F == 7:
                return True
            offset += 2 + size
    return False


def keyframe_detector(codec: str) -> Callable[[bytes], bool]:
    """The packet-level keyframe test for MIME subtype ``codec``; audio always starts."""
    name = codec.lower()
    if name == "vp8":
        return vp8_keyframe_start
    if name == "h264":
        return h264_keyframe_start
    return lambda _payload: True


class PacketSource:
    """One up-track's packets: the retransmission cache and the fan-out to down-tracks.

    ``counters`` are the up-track's: frames and bytes in from the publisher, out to the
    down-tracks that forward (see the module's docstring for what a frame is here).
    """

    def __init__(
        self, info: TrackInfo, counters: TrackCounters | None = None, *, frames: bool = True
    ) -> None:
        self.info = info
        self.counters = counters if counters is not None else TrackCounters()
        self._every_packet_a_frame = info.kind is not Kind.VIDEO
        self._frames = frames
        self._tap: RtpTap | None = None
        self._remb_sent: tuple[int, float] | None = None
        self._is_keyframe_start = keyframe_detector(info.codec)
        size = CACHE_PACKETS
        self._cache_mask = size - 1
        self._cache: list[tuple[int, int, int, bytes] | None] = [None] * size
        self._downtracks: list[PacketDownTrack] = []
        self._fast: list[PacketDownTrack] = []
        """The down-tracks in steady state, forwarded by ``rb_fanout`` (in ``_lanes``)."""
        self._lanes = lane_array([])
        self._checked = 0.0
        self.report: tuple[int, int] | None = None
        """The publisher's last sender report: (NTP timestamp, RTP timestamp)."""
        self.packets_in = 0
        self._report_timer: asyncio.TimerHandle | None = None
        self.ended = False
        self.last_remb: tuple[int, int] | None = None
        """The last REMB the publisher was sent: (uplink estimate, bitrate asked)."""
        self.on_keyframe: Callable[[], None] | None = None
        """Called after a video keyframe's first packet went to the down-tracks (the
        up-track's throttle drops a request it answers, see
        :meth:`bridge.uptrack.UpTrack.keyframe_arrived`)."""

    @property
    def frames(self) -> bool:
        """Whether the publisher's receivers reassemble whole frames (for frame sinks)."""
        return self._frames

    @frames.setter
    def frames(self, frames: bool) -> None:
        self._frames = frames
        if self._tap is not None:
            self._tap.frames = frames

    def listen(self, receiver: RTCRtpReceiver, *, cap_remb: bool = True) -> None:
        """Take ``receiver``'s packets (a publisher's, or a cascade link's) from now on.

        ``cap_remb`` makes the REMBs it sends the publisher follow :meth:`remb_cap`. A
        republish's receiver replaces the previous one (which has stopped): its packets
        are numbered and timed anew, so the source is renewed (:meth:`renew`) once, whether
        or not down-tracks are forwarding.
        """
        if self._tap is not None:
            self.renew()
        self._tap = tap_rtp(
            receiver,
            self.on_packet,
            self.on_report,
            remb_cap=self.remb_cap if cap_remb else None,
            frames=self._frames,
        )

    def add(self, downtrack: PacketDownTrack) -> None:
        """Forward to ``downtrack`` from now on (and send its sender reports, once
        :meth:`start_reports` has been called)."""
        if downtrack not in self._downtracks:
            self._downtracks.append(downtrack)

    def start_reports(self) -> None:
        """Send the down-tracks' sender reports in batches from now on (on the event
        loop), while any down-track is left; idempotent."""
        if self._report_timer is None and not self.ended:
            self._schedule_reports()

    def remove(self, downtrack: PacketDownTrack) -> None:
        """Stop forwarding to ``downtrack``."""
        self.go_slow(downtrack)
        if downtrack in self._downtracks:
            self._downtracks.remove(downtrack)

    def go_fast(self, downtrack: PacketDownTrack) -> None:
        """Forward to ``downtrack`` (one of this source's, in steady state) in C from the
        next packet on."""
        if not downtrack.fast and downtrack in self._downtracks:
            downtrack.fast = True
            self._fast.append(downtrack)
            self._lanes = lane_array([d.lane for d in self._fast])

    def go_slow(self, downtrack: PacketDownTrack) -> None:
        """Hand ``downtrack``'s packets to :meth:`PacketDownTrack.forward` from the next
        packet on."""
        if downtrack.fast:
            downtrack.fast = False
            self._fast.remove(downtrack)
            self._lanes = lane_array([d.lane for d in self._fast])

    def _check_lanes(self, now: float) -> None:
        self._checked = now
        for downtrack in list(self._fast):
            if not downtrack.link_ready():
                self.go_slow(downtrack)

    def on_packet(self, seq: int, timestamp: int, marker: int, payload: bytes) -> None:
        """One media packet of the publisher (RTX already unwrapped), on the event loop."""
        if self.ended:
            return
        self.packets_in += 1
        size = len(payload)
        counters = self.counters
        ends = 1 if self._every_packet_a_frame else marker
        counters.frames_in += ends
        counters.bytes_in += size
        if self._cache_mask >= 0:
            self._cache[seq & self._cache_mask] = (seq, timestamp, marker, payload)
        keyframe = self._is_keyframe_start(payload)
        send_time = abs_send_time(time.time())
        forwarded = len(self._fast)
        if forwarded:
            now = time.monotonic()
            if now - self._checked >= LANE_CHECK:
                self._check_lanes(now)
                forwarded = len(self._fast)
            fanout_lib.rb_fanout(
                self._lanes, forwarded, seq, timestamp, marker, payload, size, send_time, ends
            )
        for downtrack in self._downtracks:
            if downtrack.fast:
                continue
            try:
                if downtrack.forward(seq, timestamp, marker, payload, keyframe, send_time):
                    forwarded += 1
            except Exception:
                # One subscriber's failure must not stop the others, nor the publisher's
                # receive loop this runs in.
                self._failed(downtrack, "forwarding")
        if forwarded:
            counters.frames_out += ends * forwarded
            counters.bytes_out += size * forwarded
        if keyframe and self.on_keyframe is not None:
            self.on_keyframe()

    def _schedule_reports(self) -> None:
        delay = random.uniform(*REPORT_INTERVAL)
        self._report_timer = asyncio.get_running_loop().call_later(delay, self.send_reports)

    def send_reports(self) -> None:
        """Send every down-track's RTCP sender report, in one batch: one wake-up of the
        event loop for all of them (:func:`bridge.rtc_internals.take_sender_reports`);
        then the next batch is scheduled, while any down-track is left."""
        self._report_timer = None
        if self.ended:
            return
        for downtrack in self._downtracks:
            try:
                downtrack.send_report()
            except Exception:
                self._failed(downtrack, "a sender report")
        if self._downtracks:
            self._schedule_reports()

    def _failed(self, downtrack: PacketDownTrack, what: str) -> None:
        """``what`` to ``downtrack`` raised: counted, and logged the first time."""
        downtrack.failures += 1
        if downtrack.failures == 1:
            logger.exception(
                "track %s: %s to %s failed (logged once; counted in failures)",
                self.info.track_id,
                what,
                downtrack.subscriber,
            )

    def on_report(self, ntp_timestamp: int, rtp_timestamp: int) -> None:
        """The publisher's RTCP sender report: the down-tracks' next reports carry its
        NTP/RTP pair, translated."""
        self.report = (ntp_timestamp, rtp_timestamp)

    def remb_cap(self, own: int) -> int | None:
        """The REMB bitrate to send the publisher for uplink estimate ``own``: see
        :func:`remb_cap`; fresh estimates of the down-tracks now forwarding count. None
        when no REMB is to be sent now (:data:`REMB_INTERVAL`)."""
        now = time.monotonic()
        fresh = [
            d.remb[0]
            for d in self._downtracks
            if d.remb is not None and d.forwarding and now - d.remb[1] < REMB_FRESH
        ]
        asked = remb_cap(own, fresh)
        self.last_remb = (own, asked)
        sent = self._remb_sent
        if sent is not None and now - sent[1] < REMB_INTERVAL and asked > sent[0] * (1 - REMB_DROP):
            return None
        self._remb_sent = (asked, now)
        return asked

    def cached(self, seq: int) -> tuple[int, int, int, bytes] | None:
        """The cached packet ``seq`` as (seq, timestamp, marker, payload), if still held."""
        if self._cache_mask < 0:
            return None
        entry = self._cache[seq & self._cache_mask]
        return entry if entry is not None and entry[0] == seq else None

    def renew(self) -> None:
        """A new publish connection feeds the up-track (a republish): its sequence numbers,
        timestamps and sender reports are the new source's, so the cache and the old
        source's report are let go (down-tracks send no NTP/RTP pair until its first
        report, rather than a wrong one)."""
        if self.ended:
            return
        self._cache = [None] * (self._cache_mask + 1)
        self.report = None

    def end(self) -> None:
        """The publisher's track ended."""
        self.ended = True
        if self._report_timer is not None:
            self._report_timer.cancel()
            self._report_timer = None
        self._downtracks.clear()
        for downtrack in self._fast:
            downtrack.fast = False
        self._fast.clear()
        self._lanes = lane_array([])
        self._tap = None
        self._cache = []
        self._cache_mask = -1


class PacketDownTrack(DownTrack):
    """A down-track that forwards the up-track's RTP packets to one subscriber.

    It is still the ``MediaStreamTrack`` of the subscriber's ``RTCRtpSender`` (so
    negotiation, received RTCP and the sender's lifecycle stay aiortc's), but its
    ``recv`` hands the sender no frame: the sender's first read says the transport is up,
    and from then on packets and sender reports go out through
    :class:`bridge.rtc_internals.Downlink`.
    """

    def __init__(
        self,
        info: TrackInfo,
        subscriber: EndpointId,
        request_keyframe: Callable[[], None],
        source: PacketSource,
        *,
        forwarding: bool = True,
    ) -> None:
        super().__init__(info, subscriber, request_keyframe, forwarding=forwarding)
        self.source = source
        self._transceiver: RTCRtpTransceiver | None = None
        self._link: Downlink | None = None
        self._ended_event = asyncio.Event()
        self._clock_rate = info.clock_rate
        self.lane = new_lane()
        """The ``rb_lane`` (C) that holds the header rewriting (out = in + offset,
        re-based whenever forwarding (re)starts), the NACK history, and counts not yet
        settled into :attr:`counters`; the link sends on it."""
        self.lane.video = int(self._video)
        self.fast = False
        """Whether the source forwards to this down-track in C (:meth:`PacketSource.go_fast`)."""
        self._rebase = True
        self._rtx_seq = 0
        self.retransmitted = 0
        """Packets resent for a NACK."""
        self.nack_misses = 0
        """NACKed packets no longer (or never) in the cache."""
        self.failures = 0
        """Packets whose forwarding raised (the first one is logged)."""
        self.remb: tuple[int, float] | None = None
        """The subscriber's last REMB: (bit/s, monotonic time received)."""

    @property
    def counters(self) -> TrackCounters:
        """Frames in (from the up-track), out (to the subscriber), dropped; keyframe
        requests (what the C loop counted is added in first)."""
        lane = self.lane
        counters = self._counters
        if lane.frames_in or lane.frames_out or lane.bytes_in or lane.bytes_out:
            counters.frames_in += lane.frames_in
            counters.bytes_in += lane.bytes_in
            counters.frames_out += lane.frames_out
            counters.bytes_out += lane.bytes_out
            lane.frames_in = lane.bytes_in = lane.frames_out = lane.bytes_out = 0
        return counters

    @counters.setter
    def counters(self, counters: TrackCounters) -> None:
        self._counters = counters

    @property
    def packets_out(self) -> int:
        """Packets sent (retransmissions included)."""
        return int(self.lane.packets_out)

    def link_ready(self) -> bool:
        """Whether the link can forward on its own now (see :meth:`Downlink.ready`)."""
        return self._link is not None and self._link.ready()

    def bind(self, transceiver: RTCRtpTransceiver) -> None:
        """The subscriber's m-line carrying this track (its sender is read at start; its
        sender reports come from the source's batches, not the sender's own loop)."""
        self._transceiver = transceiver
        take_sender_reports(transceiver.sender)

    # -- frame-mode entry points, unused here ------------------------------------------

    def push(self, frame: EncodedFrame) -> None:
        """Frames are not forwarded in packet mode, nor handed to down-tracks: counted
        from the packets in :meth:`forward`."""

    def set_forwarding(self, forwarding: bool) -> None:
        if forwarding == self._forwarding:
            return
        self.source.go_slow(self)
        self._forwarding = forwarding
        if forwarding:
            self._rebase = True
            if self._video:
                self._needs_keyframe = True
                self.request_keyframe()

    def resync(self) -> None:
        """The up-track's source changed (a republish): the new source numbers its
        packets and timestamps from anywhere, so the next packet forwarded re-bases the
        offsets (audio too; video also waits for a keyframe). Without it, audio would
        keep the old offsets, jump in sequence and timestamp, and be dropped as "older
        than where forwarding started" whenever the new numbers fall behind the old.
        The source's cache and report are renewed where the new receiver is taken
        (:meth:`PacketSource.listen`)."""
        self.source.go_slow(self)
        super().resync()
        self._rebase = True

    def end(self) -> None:
        self._ended = True
        self.source.remove(self)
        if self._link is not None:
            self._link.close()
        self._ended_event.set()

    async def next_frame(self) -> tuple[bytes, int] | None:
        """Start forwarding (the transport is up), then wait for the track's end; never
        returns a frame. The sender's own RTCP loop sends the reports the source keeps
        come from the source's batches (:meth:`PacketSource.send_reports`)."""
        if self._ended or self._transceiver is None:
            return None
        if self._link is None:
            self._link = Downlink(self._transceiver, self.lane)
            hook_retransmit(self._link.sender, self.retransmit)
            hook_remb(self._link.sender, self.on_remb)
            self._started = True
            self.source.add(self)
            self.source.start_reports()
            if self._needs_keyframe:
                self.request_keyframe()
        await self._ended_event.wait()
        return None

    # -- the hot path ------------------------------------------------------------------

    def forward(
        self, seq: int, timestamp: int, marker: int, payload: bytes, keyframe: bool, send_time: int
    ) -> bool:
        """One packet of the up-track while not in steady state: wait for a keyframe,
        re-base, then rewrite, protect and send it (``rb_forward``), or drop it. False
        when paused (the packet is not this down-track's to count). A packet sent
        straight to the socket puts the down-track in steady state: the source forwards
        its next packets in C."""
        if not self._forwarding:
            return False
        counters = self._counters
        ends = marker if self._video else 1
        counters.frames_in += ends
        counters.bytes_in += len(payload)
        if self._needs_keyframe:
            if not keyframe:
                counters.frames_dropped += marker
                if marker:
                    self._waited += 1
                    if self._waited % 10 == 0:
                        self.request_keyframe()
                return True
            self._needs_keyframe = False
            self._waited = 0
            self._rebase = True
        if self._rebase:
            self._rebase_on(seq, timestamp)
        link = self._link
        if link is None:
            return True
        if link.forward(seq, timestamp, marker, payload, send_time, ends) == LANE_SENT:
            self.source.go_fast(self)
        return True

    def _rebase_on(self, seq: int, timestamp: int) -> None:
        self._rebase = False
        lane = self.lane
        lane.base_seq = seq & 0xFFFF
        if lane.last_seq < 0:
            lane.seq_offset = 0
            lane.ts_offset = 0
            return
        elapsed = max(1, int((time.monotonic() - lane.last_sent) * self._clock_rate))
        lane.seq_offset = (lane.last_seq + 1 - seq) & 0xFFFF
        lane.ts_offset = (lane.last_ts + elapsed - timestamp) & 0xFFFFFFFF

    def on_remb(self, bitrate: int) -> None:
        """The subscriber's receive-side estimate of our path to it (bit/s)."""
        self.remb = (bitrate, time.monotonic())

    def retransmit(self, out_seq: int) -> None:
        """The subscriber lost ``out_seq``: resend it from the cache (RTX if negotiated)."""
        link = self._link
        lane = self.lane
        slot = out_seq % HISTORY
        if link is None or lane.history_out[slot] != out_seq:
            self.nack_misses += 1
            return
        entry = self.source.cached(lane.history_in[slot])
        if entry is None:
            self.nack_misses += 1
            return
        _seq, timestamp, marker, payload = entry
        out_ts = (timestamp + lane.history_ts[slot]) & 0xFFFFFFFF
        send_time = abs_send_time(time.time())
        if link.rtx_payload_type is None:
            sent = link.send(
                (marker << 7) | link.payload_type, out_seq, out_ts, link.ssrc, payload, send_time
            )
        else:
            sent = link.send(
                (marker << 7) | link.rtx_payload_type,
                self._rtx_seq,
                out_ts,
                link.rtx_ssrc,
                payload,
                send_time,
                out_seq,
            )
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        if sent:
            self.retransmitted += 1
            lane.packets_out += 1

    def send_report(self) -> None:
        """Send this down-track's RTCP sender report: the packets and bytes it sent, and
        the publisher's last NTP/RTP pair translated into its timestamps.

        Until the publisher's first report the NTP/RTP pair stays zero, which receivers
        ignore: a pair of our own (send time) followed by the publisher's would be two
        different clocks, and a browser would resynchronise audio and video on the switch.
        """
        link = self._link
        lane = self.lane
        if link is None or lane.last_seq < 0:
            return
        ntp = rtp = 0
        report = self.source.report
        if report is not None:
            ntp = report[0]
            rtp = (report[1] + lane.ts_offset) & 0xFFFFFFFF
        link.send_report(ntp, rtp, self.packets_out, self.counters.bytes_out)
