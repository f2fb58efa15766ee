"""Telling keyframes from delta frames in encoded payloads, per codec."""

from __future__ import annotations

H264_IDR = 5
H264_SPS = 7


def is_vp8_keyframe(data: bytes) -> bool:
    """A VP8 frame is a keyframe when bit 0 of its first byte is clear (RFC 6386 9.1)."""
    return bool(data) and not data[0] & 0x01


def h264_nal_types(data: bytes) -> list[int]:
    """NAL unit types in an Annex-B access unit."""
    types = []
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        types.append(data[start + 3] & 0x1F)
        start = data.find(b"\x00\x00\x01", start + 3)
    return types


def is_h264_keyframe(data: bytes) -> bool:
    """An H264 access unit a decoder can start from: it carries an IDR slice or an SPS."""
    return any(t in (H264_IDR, H264_SPS) for t in h264_nal_types(data))


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether ``data`` (coded as MIME subtype ``codec``) is a keyframe; audio always is."""
    name = codec.lower()
    if name == "vp8":
        return is_vp8_keyframe(data)
    if name == "h264":
        return is_h264_keyframe(data)
    return True
