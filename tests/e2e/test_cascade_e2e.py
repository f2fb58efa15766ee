"""Cascade in Chromium (issue 10, part 6): a page served through node A and pages served
through node B, in one session, decode each other; a patch-out on the console (on A)
stops the province on both nodes.

Two ``reception-bridge serve`` processes share a Redis (a key prefix of their own) and
one SQLite database. The session's host site ``tw-hanoi`` has node A as its home node,
the province ``bac-ninh`` and its commune ``phuong-kinh-bac`` have node B: their pages
load from B and stay there, and B joins A by one cascade link.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.lifecycle import HOST
from tests.cluster_support import NodeProcess, Registry, Sessions, load_average, new_prefix
from tests.e2e.console_harness import ConsolePage, assert_still, video_frames, wait_rising
from tests.e2e.final_window import assert_steady, measure_final_window
from tests.e2e.harness import LoopThread, RoomPage, new_page

pytestmark = pytest.mark.redis

PROVINCE = "bac-ninh"
COMMUNE = "phuong-kinh-bac"


class Cluster:
    """Nodes A and B and a session hosted on A, run on the clients' loop."""

    def __init__(self, loop: LoopThread, root: Path, redis_url: str) -> None:
        self.loop = loop
        self.prefix = new_prefix()
        self.registry = Registry(redis_url, self.prefix)
        home = {HOST: "node-a", PROVINCE: "node-b", COMMUNE: "node-b"}
        self.a = NodeProcess(root, "node-a", redis_url, self.prefix, home_nodes=home)
        self.b = NodeProcess(root, "node-b", redis_url, self.prefix, home_nodes=home)
        self.loop.run(self.a.start(), timeout=90)
        self.loop.run(self.b.start(), timeout=90)
        self.sessions = self.loop.run(self._sessions())
        self.session_id = self.loop.run(
            self.sessions.open_session("Phiên nối tầng (Chromium)", [PROVINCE, COMMUNE])
        )

    async def _sessions(self) -> Sessions:
        return Sessions(self.a.url)  # its HTTP session belongs to the clients' loop

    def room_url(self, node: NodeProcess, site: str) -> str:
        token = self.loop.run(self.sessions.room_token(self.session_id, site))
        return f"{node.url}/room?token={token}"

    def console_url(self) -> str:
        return f"{self.a.url}/console?token={self.sessions.operator_token(self.session_id)}"

    def close(self) -> None:
        self.loop.run(self.sessions.close())
        self.loop.run(self.a.stop(), timeout=90)
        self.loop.run(self.b.stop(), timeout=90)
        self.loop.run(self.registry.cleanup())


@pytest.fixture
def cluster(client_loop: LoopThread, tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    nodes = Cluster(client_loop, tmp_path, redis_url)
    yield nodes
    nodes.close()


def test_pages_on_two_nodes_decode_each_other_and_patch_out_stops_the_remote(
    browser: Any, cluster: Cluster
) -> None:
    load_before = load_average()
    pages: list[Any] = []
    try:
        host = new_page(browser, cluster.room_url(cluster.a, HOST), "host@A", RoomPage)
        province = new_page(browser, cluster.room_url(cluster.b, PROVINCE), "bac-ninh@B", RoomPage)
        commune = new_page(browser, cluster.room_url(cluster.b, COMMUNE), "commune@B", RoomPage)
        pages += [host, province, commune]
        for page in pages:
            page.wait_joined()
        # The province and its commune stayed on B: no redirect sent them to A.
        assert province.page.url.startswith(cluster.b.url)
        host.wait_receiving(PROVINCE)
        province.wait_receiving(HOST)
        commune.wait_receiving(PROVINCE)

        windows = measure_final_window((host, PROVINCE), (province, HOST), (commune, HOST))
        sent = {page.name: page.publish_stats() for page in (host, province)}
        print("PUBLISHERS " + json.dumps(sent))
        assert_steady(
            windows,
            lambda: f"publishers: {sent}\n{cluster.a.log_tail()}{cluster.b.log_tail()}",
        )

        console = new_page(browser, cluster.console_url(), "console@A", ConsolePage)
        pages.append(console)
        console.wait_joined()
        console.wait_point(PROVINCE, connection="connected", patch="live")
        console.command("patch_out", site=PROVINCE)
        console.wait_point(PROVINCE, patch="standby")
        # Stopped on the host's node and on the province's own node.
        assert_still(host, lambda: video_frames(host, PROVINCE), "video from bac-ninh on A")
        assert_still(commune, lambda: video_frames(commune, PROVINCE), "video from bac-ninh on B")
        # The host still reaches node B.
        wait_rising(commune, lambda: video_frames(commune, HOST), "video from the host on B")

        console.command("patch_in", site=PROVINCE)
        wait_rising(host, lambda: video_frames(host, PROVINCE), "video from bac-ninh again on A")
        wait_rising(commune, lambda: video_frames(commune, PROVINCE), "bac-ninh again on B")
        print(
            json.dumps(
                {
                    "final_window_fps": {f"{w.room}<-{w.key}": w.fps for w in windows},
                    "load_average": [load_before, load_average()],
                }
            )
        )
    finally:
        for page in pages:
            page.close()
