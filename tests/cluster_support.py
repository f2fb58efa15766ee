"""Nodes of a cluster in child processes (``reception-bridge serve`` with ``REDIS_URL``),
sharing one SQLite database and data folder, under a key prefix of their own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.lifecycle import HOST, SECRET, ServerProcess, open_session
from core.access import Role
from signaling.tokens import issue_token


class NodeProcess(ServerProcess):
    """One node: its own port and node id, the cluster's Redis, prefix and data folder."""

    def __init__(
        self,
        root: Path,
        node_id: str,
        redis_url: str,
        prefix: str,
        *,
        home_nodes: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(root)
        self.node_id = node_id
        self.log_path = root / f"{node_id}.log"
        self._cluster_env = {
            "REDIS_URL": redis_url,
            "RB_NODE_ID": node_id,
            "RB_CLUSTER_PREFIX": prefix,
            "RB_HOME_NODES": json.dumps(home_nodes or {}),
            "RB_RECORD_ON_OPEN": "false",
            "RB_DRAIN_SECONDS": "10",
            "RB_WORKERS": "1",  # one node per process here (serve's default is the cores)
            **(extra_env or {}),
        }

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env.update(self._cluster_env)
        return env

    def kill(self) -> None:
        """SIGKILL: the node dies without a word."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM: the node drains."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)


class Registry:
    """Reads the cluster's keys in Redis, as the nodes write them."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis = aioredis.from_url(redis_url)
        self.prefix = prefix

    async def placement(self, session_id: str) -> str | None:
        value = await self.redis.get(f"{self.prefix}:placement:{session_id}")
        return (value.decode() if isinstance(value, bytes) else str(value)) if value else None

    async def node(self, node_id: str) -> dict[str, Any] | None:
        value = await self.redis.get(f"{self.prefix}:node:{node_id}")
        return json.loads(value) if value else None

    async def board(self, session_id: str) -> dict[str, Any] | None:
        """The board the session's node keeps beside the placement."""
        value = await self.redis.get(f"{self.prefix}:board:{session_id}")
        return dict(json.loads(value)) if value else None

    async def cleanup(self) -> None:
        keys = [k async for k in self.redis.scan_iter(match=f"{self.prefix}:*")]
        if keys:
            await self.redis.delete(*keys)
        await self.redis.aclose()


def new_prefix() -> str:
    """A key prefix of this run's own (other engineers' tests share the Redis)."""
    return f"rbtest-{uuid.uuid4().hex[:10]}"


class Sessions:
    """Books, opens and hands out room tokens over REST (as an administrator)."""

    def __init__(self, url: str) -> None:
        self.url = url
        admin = issue_token(SECRET, role=Role.ADMINISTRATOR, site=HOST, subject="test@cluster")
        self._http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"})

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self._http.post(f"{self.url}{path}", json=body or {}) as resp:
            answer: dict[str, Any] = await resp.json()
            if resp.status >= 300:
                raise RuntimeError(f"POST {path}: {resp.status} {answer}")
            return answer

    async def open_session(
        self, title: str, participants: list[str], host: str = HOST, *, record: bool = False
    ) -> str:
        return await open_session(self.post, title, participants, host, record=record)

    async def room_token(self, session_id: str, site: str) -> str:
        answer = await self.post(f"/api/sessions/{session_id}/room-token", {"site": site})
        return str(answer["token"])

    def operator_token(self, session_id: str) -> str:
        return issue_token(
            SECRET,
            role=Role.OPERATOR,
            site=HOST,
            session=session_id,
            subject="operator@cluster",
            ttl=timedelta(hours=2),
        )

    async def close(self) -> None:
        await self._http.close()


async def until(condition: Callable[[], bool], within: float, step: float = 0.02) -> bool:
    """Wait for ``condition`` (polled); False if it did not hold within ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def load_average() -> float:
    return os.getloadavg()[0]
