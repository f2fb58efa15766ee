"""A short bounded run of ``bench.loopback``: both ways of sending reach every receiver
(real sockets in other processes), and the sender's CPU per datagram is measured."""

from __future__ import annotations

import pytest

from bench import loopback


def test_every_datagram_reaches_its_receiver_both_ways() -> None:
    result = loopback.measure(3, 0.5, ("sendto", "sendmmsg"))
    assert result["sent"] == result["sendto"]["datagrams"] + result["sendmmsg"]["datagrams"]
    assert result["sent"] >= 2 * 3 * 40  # 111 bursts/s of 3 datagrams, half a second each
    assert result["received"] == result["sent"]
    for how in ("sendto", "sendmmsg"):
        assert result[how]["us_per_datagram"] > 0
        assert 1.0 < result[how]["mbps"] < 4.0  # 3 destinations at about 1 Mbit/s each


def test_multisend_reports_a_short_send() -> None:
    # A destination port of 0 is refused by the kernel: sendmmsg stops there and says so.
    multi = loopback.MultiSend([0], b"x")
    try:
        with pytest.raises(OSError, match="sendmmsg sent"):
            multi.send()
    finally:
        multi.close()
