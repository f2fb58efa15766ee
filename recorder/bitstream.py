"""What the muxer must know of a coded frame without decoding it: keyframe flag and size.

A Matroska header needs the picture size before the first packet; the relay only has
the compressed bytes, so the size is read from the keyframe's own header (VP8) or from
the sequence parameter set in front of it (H264).
"""

from __future__ import annotations

from collections.abc import Iterator

VP8_START_CODE = b"\x9d\x01\x2a"


def vp8_is_keyframe(data: bytes) -> bool:
    """Bit 0 of byte 0 is clear on a VP8 keyframe (RFC 6386, 9.1)."""
    return len(data) >= 10 and not data[0] & 1 and data[3:6] == VP8_START_CODE


def vp8_frame_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 keyframe header (bytes 6-9, 14 bits each), else None."""
    if not vp8_is_keyframe(data):
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    if width == 0 or height == 0:
        return None
    return width, height


def h264_nal_units(data: bytes) -> Iterator[bytes]:
    """NAL units of an Annex-B access unit (start codes 00 00 01 or 00 00 00 01)."""
    starts: list[int] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    for n, start in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(data)
        yield data[start:end].rstrip(b"\x00") if n + 1 < len(starts) else data[start:end]


class _Bits:
    """Exp-Golomb reader over an RBSP (emulation prevention bytes removed)."""

    def __init__(self, payload: bytes) -> None:
        self._data = payload.replace(b"\x00\x00\x03", b"\x00\x00")
        self._pos = 0

    def bit(self) -> int:
        byte = self._pos >> 3
        if byte >= len(self._data):
            raise ValueError("SPS ends early")
        value = (self._data[byte] >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad Exp-Golomb code in SPS")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last, nxt = 8, 8
    for _ in range(size):
        if nxt:
            nxt = (last + bits.se()) % 256
        last = nxt or last


def _sps_size(sps: bytes) -> tuple[int, int]:
    bits = _Bits(sps[1:])
    profile = bits.bits(8)
    bits.bits(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}:
        chroma_format = bits.ue()
        if chroma_format == 3:
            bits.bit()
        bits.ue()
        bits.ue()
        bits.bit()
        if bits.bit():
            for i in range(8 if chroma_format != 3 else 12):
                if bits.bit():
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()  # log2_max_frame_num
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.bit()
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    if not frame_mbs_only:
        bits.bit()
    bits.bit()
    crop = (0, 0, 0, 0)
    if bits.bit():
        crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue())
    sub_w, sub_h = (2, 2) if chroma_format == 1 else (2, 1) if chroma_format == 2 else (1, 1)
    crop_x = sub_w if chroma_format else 1
    crop_y = (sub_h if chroma_format else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = height_units * 16 * (2 - frame_mbs_only) - crop_y * (crop[2] + crop[3])
    return width, height


def h264_frame_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the SPS in an Annex-B access unit, else None."""
    for nal in h264_nal_units(data):
        if nal and nal[0] & 0x1F == 7:
            try:
                return _sps_size(nal)
            except ValueError:
                return None
    return None


def frame_size(codec: str, data: bytes) -> tuple[int, int] | None:
    """Picture size carried by a keyframe of ``codec`` (``VP8`` or ``H264``), else None."""
    name = codec.upper()
    if name == "VP8":
        return vp8_frame_size(data)
    if name == "H264":
        return h264_frame_size(data)
    return None
