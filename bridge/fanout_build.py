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
HEADER = HERE / "fanout.h"

# What cffi cannot see through: the system types the struct uses.
SYSTEM_TYPES = """
typedef int... socklen_t;
struct sockaddr_storage { ...; };
"""


def declarations(header: Path = HEADER) -> str:
    """The header's declarations between its ``cdef begin`` and ``cdef end`` markers:
    cffi checks them against the compiled struct, so C and Python share one copy."""
    text = header.read_text()
    begin = text.index("/* cdef begin */") + len("/* cdef begin */")
    return SYSTEM_TYPES + text[begin : text.index("/* cdef end */")]


def builder() -> FFI:
    ffi = FFI()
    ffi.cdef(declarations())
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
