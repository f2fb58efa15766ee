"""``bench/frame_index.py``: frames counted by their publisher's frame number, so that a
window's count never exceeds the frames published in it, whenever they arrive."""

from __future__ import annotations

from bench.frame_index import TICKS_PER_FRAME, FrameIndex, merged_count
from bench.socket_frames import IndexedFrames

ORIGIN = 0xFFFF_0000  # the sender's random origin; timestamps wrap at 2**32


def ts(k: int, origin: int = ORIGIN) -> int:
    return (origin + k * TICKS_PER_FRAME) & 0xFFFFFFFF


def see(index: FrameIndex, frames: list[int], published: int, origin: int = ORIGIN) -> None:
    """Frames ``frames`` arrive complete; the publisher has handed on ``published``."""
    index.pending.extend(ts(k, origin) for k in frames)
    index.place(published)


def test_prompt_delivery_counts_the_window_exactly_across_the_wrap() -> None:
    index = FrameIndex()
    for k in range(300):
        see(index, [k], k + 1)  # each frame seen before the next is handed on
    assert index.count(100, 220) == (120, 0)
    assert index.count(0, 300) == (300, 0)
    assert len(index.segments) == 1


def test_a_backlog_delivered_late_counts_only_the_window_frames() -> None:
    """The over-count: 150 frames published before the window arrive in it at once."""
    index = FrameIndex()
    for k in range(60):
        see(index, [k], k + 1)
    # The relay stalls for frames 60..209 (published meanwhile), then flushes them
    # together with the window's frames 210..329 while the publisher is at 330.
    see(index, list(range(60, 330)), 330)
    count, lag = index.count(210, 330)
    assert count == 120  # not 270 (what arrived in the window)
    assert lag == 329 - 210  # the window's first frame was seen 119 frames late
    assert index.count(0, 330) == (330, 329 - 60)


def test_lost_frames_are_not_counted() -> None:
    index = FrameIndex()
    for k in range(200):
        if k % 10 != 3:
            see(index, [k], k + 1)
    assert index.count(100, 200)[0] == 90


def test_offset_is_the_least_bound_and_only_shifts_the_count() -> None:
    index = FrameIndex()
    # The first frames arrive 5 frames late; later ones promptly.
    for k in range(20):
        see(index, [k], k + 6)
    assert index.segments[0].offset == 5  # not known yet: counted 5 frames early
    assert index.count(0, 20)[0] == 15
    for k in range(20, 100):
        see(index, [k], k + 1)
    assert index.segments[0].offset == 0
    assert index.count(0, 100) == (100, 5)


def test_never_more_than_the_window_holds() -> None:
    index = FrameIndex()
    # Duplicates, reordering and a stream seen twice (two SSRCs of one subscriber).
    for k in range(100):
        see(index, [k, k], k + 1)
    see(index, list(range(50, 100)), 100)
    other = FrameIndex()
    for k in range(100):
        see(other, [k], k + 1, origin=12345)
    for first, end in [(0, 100), (10, 20), (90, 130), (-5, 5)]:
        count, _ = merged_count([index, other], first, end)
        assert count <= end - first
    assert merged_count([index, other], 0, 100)[0] == 100
    assert index.count(5, 5) == (0, 0)


def test_a_rebase_starts_a_segment_placed_by_its_own_bound() -> None:
    index = FrameIndex()
    for k in range(100):
        see(index, [k], k + 1)
    # The relay re-bases (offset not a whole number of frames) from frame 100 on.
    for k in range(100, 200):
        see(index, [k], k + 1, origin=ORIGIN + 1234)
    assert len(index.segments) == 2
    assert index.count(50, 150) == (100, 0)
    assert index.count(0, 200)[0] == 200


def test_indexed_frames_keep_only_complete_frames() -> None:
    counter = IndexedFrames()
    seq = 1000
    for k in range(10):
        packets = 3
        for p in range(packets):
            if k == 4 and p == 1:
                seq += 1  # lost: frame 4 incomplete
                continue
            counter.on_packet(seq & 0xFFFF, ts(k), int(p == packets - 1), b"")
            seq += 1
    assert counter.complete == 8  # not frame 0 (counting starts at a marker) nor 4 (a loss)
    counter.index.place(10)
    assert counter.index.count(0, 10)[0] == 8
