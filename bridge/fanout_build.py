"""Builds ``bridge._fanout``, the packet fan-out's hot loop in C (cffi, API mode).

    python -m bridge.fanout_build

``make`` runs it (``make serve`` and ``make test`` both do); it needs a C compiler and
the Python headers. The C source is ``bridge/fanout.c``; libsrtp is not linked again:
:func:`bridge.rtc_internals.fanout` hands the C code pylibsrtp's own ``srtp_protect``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

CDEF = """
typedef unsigned int socklen_t;
typedef struct {
    uintptr_t srtp;
    int fd;
    uint8_t first_byte;
    uint8_t payload_type;
    uint32_t ssrc;
    uint8_t head[64];
    int head_len;
    int ast_offset;
    uint32_t ast_word;
    int video;
    uint16_t base_seq;
    uint16_t seq_offset;
    uint32_t ts_offset;
    int32_t last_seq;
    uint32_t last_ts;
    double last_sent;
    int32_t history_out[1024];
    uint16_t history_in[1024];
    uint32_t history_ts[1024];
    uint64_t frames_in, bytes_in, frames_out, bytes_out;
    uint64_t packets_out;
    uint64_t send_errors;
    int last_errno;
    uint8_t out[1500];
    int out_len;
    ...;
} rb_lane;

#define RB_REFUSED 0
#define RB_SENT 1
#define RB_DELIVER 2
#define RB_OLD 3
#define RB_HISTORY 1024

void rb_init(uintptr_t srtp_protect);
void rb_lane_reset(rb_lane *lane);
int rb_set_peer(rb_lane *lane, int fd, const char *host, int port);
int rb_send(rb_lane *lane, int marker_pt, uint16_t seq, uint32_t timestamp, uint32_t ssrc,
            const char *payload, int length, uint32_t send_time, int osn);
int rb_forward(rb_lane *lane, uint16_t seq, uint32_t timestamp, int marker,
               const char *payload, int length, uint32_t send_time, int ends, double now);
int rb_fanout(rb_lane **lanes, int count, uint16_t seq, uint32_t timestamp, int marker,
              const char *payload, int length, uint32_t send_time, int ends);
"""


def builder() -> FFI:
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        "bridge._fanout",
        '#include "fanout.h"',
        sources=[str(HERE / "fanout.c")],
        include_dirs=[str(HERE)],
        extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror"],
    )
    return ffi


def main() -> None:
    """Compile in ``build/fanout`` and put the extension beside this file."""
    root = HERE.parent
    built = Path(builder().compile(tmpdir=str(root / "build" / "fanout"), verbose=False))
    target = HERE / built.name
    shutil.copyfile(built, target.with_suffix(".tmp"))
    target.with_suffix(".tmp").replace(target)  # atomic: a running server keeps its copy
    print(f"built {target.relative_to(root)}")


if __name__ == "__main__":
    main()
