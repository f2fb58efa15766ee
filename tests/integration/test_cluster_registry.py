"""The node registry and placement against a real Redis, in one process (issue 10, 1-2)."""

from __future__ import annotations

import asyncio

import pytest

from cluster.registry import NoNodeServing, RedisCluster, Stats
from tests.cluster_support import Registry, new_prefix

pytestmark = pytest.mark.redis


def _node(redis_url: str, prefix: str, node_id: str, tracks: int = 0) -> RedisCluster:
    return RedisCluster(
        redis_url,
        node_id,
        f"http://{node_id}.test:8080",
        lambda: Stats(sessions=0, tracks=tracks),
        prefix=prefix,
        refresh=0.2,
        ttl=1,
        cpu=lambda: 0.0,  # both nodes share this process: rank them by tracks alone
    )


async def test_concurrent_placements_agree_and_prefer_home_then_least_loaded(
    redis_url: str,
) -> None:
    prefix = new_prefix()
    registry = Registry(redis_url, prefix)
    busy, idle = _node(redis_url, prefix, "busy", tracks=40), _node(redis_url, prefix, "idle")
    await busy.start()
    await idle.start()
    try:
        # Twenty joins at once from both nodes: one placement, the least-loaded node.
        placed = await asyncio.gather(*(node.place("s-1") for node in (busy, idle) * 10))
        assert {p.id for p in placed} == {"idle"}
        # A home node that serves wins over load.
        assert (await idle.place("s-2", home="busy")).id == "busy"
        # A home node that drains does not; nor does any draining node.
        await busy.drain()
        assert (await idle.place("s-3", home="busy")).id == "idle"
        # An existing placement stays on a draining node (its session goes on there).
        assert (await idle.place("s-2")).id == "busy"
        await idle.drain()
        with pytest.raises(NoNodeServing):
            await idle.place("s-4")
        assert {n.id for n in await idle.nodes()} == {"busy", "idle"}
    finally:
        await busy.stop()
        await idle.stop()
        await registry.cleanup()


async def test_a_node_that_stops_refreshing_is_gone_with_its_placements(redis_url: str) -> None:
    prefix = new_prefix()
    registry = Registry(redis_url, prefix)
    dying, living = _node(redis_url, prefix, "dying"), _node(redis_url, prefix, "living", 5)
    await dying.start()
    await living.start()
    try:
        assert (await living.place("s-1")).id == "dying"
        # Stop refreshing without a word (as a killed process): the record expires
        # after the TTL and the living node's next refresh lets the placement go.
        assert dying._task is not None
        dying._task.cancel()
        for _ in range(50):
            if await registry.placement("s-1") is None:
                break
            await asyncio.sleep(0.1)
        assert await registry.placement("s-1") is None
        assert await registry.node("dying") is None
        assert [n.id for n in await living.nodes()] == ["living"]
        assert (await living.place("s-1")).id == "living"
        # Releasing a placement that is another node's does nothing.
        await dying.release("s-1")
        assert await registry.placement("s-1") == "living"
        await living.release("s-1")
        assert await registry.placement("s-1") is None
    finally:
        await dying.stop()
        await living.stop()
        await registry.cleanup()


async def test_only_the_node_holding_a_session_keeps_its_board(redis_url: str) -> None:
    prefix = new_prefix()
    registry = Registry(redis_url, prefix)
    holder, other = _node(redis_url, prefix, "holder"), _node(redis_url, prefix, "other", 5)
    await holder.start()
    await other.start()
    try:
        assert (await other.place("s-1")).id == "holder"
        assert await holder.save_board("s-1", '{"n":1}')
        # A node the session is not placed on writes nothing (a late write of a node
        # that let the session go must not overwrite the next node's board).
        assert not await other.save_board("s-1", '{"n":2}')
        assert await other.load_board("s-1") == '{"n":1}'
        await holder.release("s-1")
        assert not await holder.save_board("s-1", '{"n":3}')
        # Placed again (a drain, a failover): the board is there for the next node.
        assert (await other.place("s-1", home="other")).id == "other"
        assert await other.load_board("s-1") == '{"n":1}'
        assert await other.save_board("s-1", '{"n":4}')
        await other.forget_board("s-1")
        assert await holder.load_board("s-1") is None
        assert await registry.board("s-1") is None
    finally:
        await holder.stop()
        await other.stop()
        await registry.cleanup()
