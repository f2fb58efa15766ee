"""What one datagram sent on loopback costs the sender: this machine's share of the relay's
per-packet CPU that no change to the relay can remove.

    python -m bench.loopback --destinations 16 --seconds 5

Receivers in two other processes (as ``bench.relay``'s subscribers are) read N UDP sockets
on their event loops; the sender sends 111 bursts a second (1 Mbit/s of 1180-byte
packets per destination) of one datagram to each, and prints its own CPU per datagram, for
``sendto`` from one socket per destination (what the relay does: one ICE socket per
subscriber) and for one ``sendmmsg`` per burst from a single socket (what a port mux, as in
mediasoup's WebRtcServer, would allow). On loopback the sending call also delivers the
datagram (softirq, UDP lookup, enqueue) and wakes the receiving process, all of it charged
to the sender; with the receivers on another host a NIC does most of it.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import json
import multiprocessing
import os
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

DATAGRAM_BYTES = 1180
BURSTS_PER_SECOND = 111  # 1 Mbit/s of 1180-byte datagrams per destination
RECEIVER_PROCESSES = 2


def receive(conn: Connection, sockets: int) -> None:
    """A receiving process: ``sockets`` UDP sockets on an event loop; sends their ports,
    then on ``stop`` the number of datagrams they received."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        received = [0]

        class Count(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                received[0] += 1

        transports = []
        for _ in range(sockets):
            transport, _ = await loop.create_datagram_endpoint(Count, local_addr=("127.0.0.1", 0))
            transports.append(transport)
        conn.send([t.get_extra_info("sockname")[1] for t in transports])
        await loop.run_in_executor(None, conn.recv)  # "stop"
        await asyncio.sleep(0.2)  # what is still in flight
        conn.send(received[0])
        for transport in transports:
            transport.close()

    asyncio.run(main())


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_Iovec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


class _SockaddrIn(ctypes.Structure):
    _fields_ = [
        ("sin_family", ctypes.c_ushort),
        ("sin_port", ctypes.c_uint16),
        ("sin_addr", ctypes.c_uint32),
        ("sin_zero", ctypes.c_char * 8),
    ]


class MultiSend:
    """One ``sendmmsg`` carrying the same datagram to every destination (ctypes; Python's
    socket module has no sendmmsg)."""

    def __init__(self, ports: list[int], datagram: bytes) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        n = len(ports)
        self._buffer = ctypes.create_string_buffer(datagram, len(datagram))
        loopback = int.from_bytes(socket.inet_aton("127.0.0.1"), "little")
        self._names = [
            _SockaddrIn(socket.AF_INET, socket.htons(port), loopback, b"") for port in ports
        ]
        self._iov = _Iovec(ctypes.cast(self._buffer, ctypes.c_void_p), len(datagram))
        self._messages = (_Mmsghdr * n)()
        for message, name in zip(self._messages, self._names, strict=True):
            message.msg_hdr.msg_name = ctypes.cast(ctypes.pointer(name), ctypes.c_void_p)
            message.msg_hdr.msg_namelen = ctypes.sizeof(_SockaddrIn)
            message.msg_hdr.msg_iov = ctypes.pointer(self._iov)
            message.msg_hdr.msg_iovlen = 1
        self._n = n

    def send(self) -> None:
        sent = self._libc.sendmmsg(self.socket.fileno(), self._messages, self._n, 0)
        if sent != self._n:
            raise OSError(ctypes.get_errno(), f"sendmmsg sent {sent} of {self._n}")

    def close(self) -> None:
        self.socket.close()


def send_bursts(ports: list[int], seconds: float, how: str) -> dict[str, float]:
    """Send one datagram to every port ``BURSTS_PER_SECOND`` times a second for
    ``seconds``; the sender's CPU per datagram. ``how`` is ``sendto`` or ``sendmmsg``."""
    datagram = bytes(DATAGRAM_BYTES)
    closers: list[socket.socket | MultiSend]
    if how == "sendto":
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in ports]
        pairs = list(zip(sockets, [("127.0.0.1", port) for port in ports], strict=True))

        def send() -> None:
            for sock, address in pairs:
                sock.sendto(datagram, address)

        closers = list(sockets)
    elif how == "sendmmsg":
        multi = MultiSend(ports, datagram)
        send = multi.send
        closers = [multi]
    else:
        raise ValueError(f"unknown way of sending: {how!r}")
    bursts = 0
    try:
        cpu0, start = time.process_time(), time.monotonic()
        while time.monotonic() - start < seconds:
            send()
            bursts += 1
            time.sleep(max(0.0, start + bursts / BURSTS_PER_SECOND - time.monotonic()))
        cpu = time.process_time() - cpu0
        elapsed = time.monotonic() - start
    finally:
        for closer in closers:
            closer.close()
    datagrams = bursts * len(ports)
    return {
        "us_per_datagram": round(cpu / datagrams * 1e6, 2),
        "datagrams": datagrams,
        "mbps": round(datagrams * DATAGRAM_BYTES * 8 / elapsed / 1e6, 2),
    }


def measure(destinations: int, seconds: float, hows: tuple[str, ...]) -> dict[str, Any]:
    """Start the receiving processes, measure each way of sending in turn, and check that
    every datagram arrived."""
    context = multiprocessing.get_context("spawn")
    per_process = [
        destinations // RECEIVER_PROCESSES + (i < destinations % RECEIVER_PROCESSES)
        for i in range(RECEIVER_PROCESSES)
    ]
    links = []
    processes = []
    for count in per_process:
        ours, theirs = context.Pipe()
        process = context.Process(target=receive, args=(theirs, count), daemon=True)
        process.start()
        links.append(ours)
        processes.append(process)
    try:
        groups: list[list[int]] = [link.recv() for link in links]
        # Interleaved across the processes, as the relay's subscribers are.
        ports = [group[i] for i in range(max(per_process)) for group in groups if i < len(group)]
        load_before = round(os.getloadavg()[0], 2)
        out: dict[str, Any] = {
            "destinations": destinations,
            "datagram_bytes": DATAGRAM_BYTES,
            "bursts_per_second": BURSTS_PER_SECOND,
        }
        sent = 0
        for how in hows:
            figures = send_bursts(ports, seconds, how)
            sent += int(figures["datagrams"])
            out[how] = figures
        for link in links:
            link.send("stop")
        out["received"] = sum(int(link.recv()) for link in links)
        out["sent"] = sent
        out["load_average_before"] = load_before
        out["load_average_after"] = round(os.getloadavg()[0], 2)
        return out
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--destinations", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.destinations, args.seconds, ("sendto", "sendmmsg"))))


if __name__ == "__main__":
    main()
