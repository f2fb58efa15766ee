"""A short bounded run of ``bench.forward_loop``: the benchmark keeps working as the
forwarding path changes (it broke once, unnoticed, when down-tracks started taking their
senders' reports and had to be bound before the connection starts)."""

from __future__ import annotations

from bench import forward_loop


async def test_forward_loop_sends_every_packet_to_every_subscriber() -> None:
    result = await forward_loop.run(subscribers=3, packets=120)
    # packets_out counts only the packets the socket accepted, per down-track.
    assert result["packets_sent"] == 3 * 120
    assert result["cpu_us_per_packet_and_subscriber"] > 0
