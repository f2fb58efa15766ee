"""The node registry and session placement (issue 10, parts 1 and 2).

Every server process is a node. With Redis each node writes its record (address,
cores, sessions, tracks, CPU load, serving or draining) every ``REFRESH`` seconds under
a key that lives ``TTL`` seconds: a node that dies disappears by itself. A session is
placed once, atomically (one Lua script), on the session's home node if it serves, else
on the least-loaded serving node; every later join goes there. A placement on a node
that is gone is replaced by the next join. Without Redis there is one node, in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

REFRESH = 2.0
"""Seconds between two writes of a node's record."""
TTL = 6
"""Seconds a node's record lives without a refresh: a dead node is gone within this."""
PLACEMENT_TTL = 24 * 3600
"""Seconds a placement lives at most (a session never lasts that long)."""

SERVING = "serving"
DRAINING = "draining"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One node's record, as the registry holds it."""

    id: str
    """Unique per process."""
    url: str
    """Where a client reaches this node directly (its advertised address)."""
    cores: int
    """CPU cores of the machine."""
    sessions: int = 0
    """Sessions with a hub on this node."""
    tracks: int = 0
    """Tracks published on this node."""
    load: float = 0.0
    """The process's CPU use over the last refresh, in cores (0.5 = half a core)."""
    state: str = SERVING
    """``serving`` or ``draining`` (no new placements)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> NodeInfo:
        data = json.loads(text)
        return cls(
            id=str(data["id"]),
            url=str(data["url"]),
            cores=int(data["cores"]),
            sessions=int(data.get("sessions", 0)),
            tracks=int(data.get("tracks", 0)),
            load=float(data.get("load", 0.0)),
            state=str(data.get("state", SERVING)),
        )


@dataclass(frozen=True, slots=True)
class Stats:
    """What a node reports of itself at each refresh."""

    sessions: int
    tracks: int


StatsSource = Callable[[], Stats]


class NoNodeServing(Exception):
    """Placement found no serving node (every node draining or gone)."""

    code = "no_node"


class Cluster(Protocol):
    """What the web layer and signaling need of the registry."""

    node: NodeInfo
    """This process's node (its latest record)."""

    async def start(self) -> None:
        """Register this node and keep its record fresh."""

    async def stop(self) -> None:
        """Stop refreshing and remove this node's record."""

    async def place(self, session_id: str, home: str | None = None) -> NodeInfo:
        """The node that holds ``session_id``, placing it now if it has none."""

    async def release(self, session_id: str) -> None:
        """Forget this node's placement of ``session_id`` (the session ended or moves)."""

    async def drain(self) -> None:
        """Take no new placements from now on."""

    async def nodes(self) -> list[NodeInfo]:
        """Every live node."""

    async def save_board(self, session_id: str, board: str) -> bool:
        """Keep ``session_id``'s board (JSON) beside its placement, if this node holds
        it; False when it does not (nothing written)."""

    async def load_board(self, session_id: str) -> str | None:
        """The board a node holding ``session_id`` kept last, if any."""

    async def forget_board(self, session_id: str) -> None:
        """The session ended: its board goes."""


def _cpu_meter() -> Callable[[], float]:
    """CPU used by this process since the last call, in cores."""
    last = [time.monotonic(), time.process_time()]

    def measure() -> float:
        now, cpu = time.monotonic(), time.process_time()
        wall = max(now - last[0], 1e-6)
        used = (cpu - last[1]) / wall
        last[0], last[1] = now, cpu
        return round(used, 3)

    return measure


def new_node_id() -> str:
    """A node id: the host name and a random part (one per process)."""
    host = os.uname().nodename.split(".")[0] or "node"
    return f"{host}-{uuid.uuid4().hex[:8]}"


class LocalCluster:
    """One node, no Redis: every session is placed here (``make serve``)."""

    def __init__(self, node_id: str, url: str, stats: StatsSource) -> None:
        self.node = NodeInfo(node_id, url, os.cpu_count() or 1)
        self._stats = stats

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def place(self, session_id: str, home: str | None = None) -> NodeInfo:
        return self.node

    async def release(self, session_id: str) -> None:
        return None

    async def drain(self) -> None:
        self.node = _with(self.node, state=DRAINING)

    async def nodes(self) -> list[NodeInfo]:
        stats = self._stats()
        return [_with(self.node, sessions=stats.sessions, tracks=stats.tracks)]

    async def save_board(self, session_id: str, board: str) -> bool:
        return False  # one node: the board lives and dies with its hub

    async def load_board(self, session_id: str) -> str | None:
        return None

    async def forget_board(self, session_id: str) -> None:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _with(node: NodeInfo, **changes: Any) -> NodeInfo:
    return replace(node, **changes)


# KEYS[1] placement key, KEYS[2] node set; ARGV[1] node key prefix, ARGV[2] home node,
# ARGV[3] placement TTL, ARGV[4] node sessions key prefix, ARGV[5] the session
# id. Returns the chosen node's record (JSON) or false.
_PLACE = """
local placed = redis.call('GET', KEYS[1])
if placed then
  local record = redis.call('GET', ARGV[1] .. placed)
  if record then return record end
end
local best, best_record, best_score = nil, nil, nil
local home_record = nil
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local record = redis.call('GET', ARGV[1] .. id)
  if not record then
    redis.call('SREM', KEYS[2], id)
  else
    local node = cjson.decode(record)
    if node.state == 'serving' then
      if id == ARGV[2] then home_record = record end
      local cores = math.max(tonumber(node.cores) or 1, 1)
      local score = (tonumber(node.load) or 0) / cores
        + 0.001 * (tonumber(node.tracks) or 0) + 0.0001 * (tonumber(node.sessions) or 0)
      if best_score == nil or score < best_score or (score == best_score and id < best) then
        best, best_record, best_score = id, record, score
      end
    end
  end
end
if home_record then best, best_record = ARGV[2], home_record end
if not best then return false end
redis.call('SET', KEYS[1], best, 'EX', tonumber(ARGV[3]))
redis.call('SADD', ARGV[4] .. best, ARGV[5])
return best_record
"""

# KEYS[1] node set; ARGV[1] node key prefix, ARGV[2] node sessions key prefix,
# ARGV[3] placement key prefix. Forgets nodes whose record expired and their placements;
# returns the ids of the sessions let go.
_REAP = """
local freed = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    for _, session in ipairs(redis.call('SMEMBERS', ARGV[2] .. id)) do
      if redis.call('GET', ARGV[3] .. session) == id then
        redis.call('DEL', ARGV[3] .. session)
        table.insert(freed, session)
      end
    end
    redis.call('DEL', ARGV[2] .. id)
    redis.call('SREM', KEYS[1], id)
  end
end
return freed
"""

# KEYS[1] placement key, KEYS[2] this node's sessions; ARGV[1] this node's id, ARGV[2]
# the session. Deletes the placement if it is ours.
_RELEASE = """
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# KEYS[1] placement key, KEYS[2] board key; ARGV[1] this node's id, ARGV[2] the board,
# ARGV[3] its TTL. Writes the board only while the session is placed on this node (a
# node that let the session go, or was taken for dead, must not overwrite the next one's).
_SAVE_BOARD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"""


class RedisCluster:
    """Nodes and placements in Redis, under ``prefix`` (tests share one Redis)."""

    def __init__(
        self,
        redis_url: str,
        node_id: str,
        url: str,
        stats: StatsSource,
        *,
        prefix: str = "rb",
        refresh: float = REFRESH,
        ttl: int = TTL,
        cpu: Callable[[], float] | None = None,
    ) -> None:
        self.node = NodeInfo(node_id, url, os.cpu_count() or 1)
        self._redis = aioredis.from_url(redis_url)
        self._stats = stats
        self._prefix = prefix
        self._refresh = refresh
        self._ttl = ttl
        self._cpu = cpu or _cpu_meter()
        """This process's CPU use since the last refresh, in cores."""
        self._task: asyncio.Task[None] | None = None
        self._place = self._redis.register_script(_PLACE)
        self._release = self._redis.register_script(_RELEASE)
        self._reap = self._redis.register_script(_REAP)
        self._save_board = self._redis.register_script(_SAVE_BOARD)

    def _node_key(self, node_id: str) -> str:
        return f"{self._prefix}:node:{node_id}"

    def _placement_key(self, session_id: str) -> str:
        return f"{self._prefix}:placement:{session_id}"

    def _board_key(self, session_id: str) -> str:
        return f"{self._prefix}:board:{session_id}"

    def _sessions_key(self, node_id: str) -> str:
        return f"{self._prefix}:node-sessions:{node_id}"

    @property
    def _nodes_key(self) -> str:
        return f"{self._prefix}:nodes"

    async def start(self) -> None:
        try:
            await self._write()
            logger.info("node %s registered at %s", self.node.id, self.node.url)
        except Exception as exc:
            # Redis is away at start: the node serves what reaches it (``/readyz`` says
            # not ready) and registers at the next refresh that succeeds.
            logger.warning("node %s: Redis unreachable, not registered yet: %s", self.node.id, exc)
        self._task = asyncio.get_running_loop().create_task(self._keep_fresh())

    async def _write(self) -> None:
        stats = self._stats()
        self.node = _with(self.node, sessions=stats.sessions, tracks=stats.tracks, load=self._cpu())
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._node_key(self.node.id), self.node.to_json(), ex=self._ttl)
            pipe.sadd(self._nodes_key, self.node.id)
            await pipe.execute()
        freed = await self.reap()
        if freed:
            logger.warning("nodes gone: %d sessions to be placed again", len(freed))

    async def reap(self) -> list[str]:
        """Forget the nodes whose record expired and their placements (the next join
        places those sessions again); returns the sessions let go."""
        freed = await self._reap(
            keys=[self._nodes_key],
            args=[self._node_key(""), self._sessions_key(""), self._placement_key("")],
        )
        return [_text(f) for f in freed]

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self._write()
            except Exception:
                # Redis away for a moment: the record expires if it stays away, and
                # this node is placed on again once it is back.
                logger.exception("node %s: refreshing its record failed", self.node.id)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            # Gone at once rather than at the TTL; its placements are reaped next.
            await self._redis.delete(self._node_key(self.node.id))
            await self.reap()
        except Exception as exc:
            logger.warning(
                "node %s: record not removed (it expires by itself): %s", self.node.id, exc
            )
        finally:
            await self._redis.aclose()

    async def place(self, session_id: str, home: str | None = None) -> NodeInfo:
        record = await self._place(
            keys=[self._placement_key(session_id), self._nodes_key],
            args=[
                self._node_key(""),
                home or "",
                PLACEMENT_TTL,
                self._sessions_key(""),
                session_id,
            ],
        )
        if not record:
            raise NoNodeServing("no node serves: every node is draining or gone")
        return NodeInfo.from_json(record)

    async def release(self, session_id: str) -> None:
        await self._release(
            keys=[self._placement_key(session_id), self._sessions_key(self.node.id)],
            args=[self.node.id, session_id],
        )

    async def drain(self) -> None:
        self.node = _with(self.node, state=DRAINING)
        await self._write()
        logger.info("node %s draining: no new placements", self.node.id)

    async def nodes(self) -> list[NodeInfo]:
        ids = sorted(_text(m) for m in await self._redis.smembers(self._nodes_key))
        if not ids:
            return []
        records = await self._redis.mget([self._node_key(i) for i in ids])
        return [NodeInfo.from_json(r) for r in records if r]

    async def save_board(self, session_id: str, board: str) -> bool:
        written = await self._save_board(
            keys=[self._placement_key(session_id), self._board_key(session_id)],
            args=[self.node.id, board, PLACEMENT_TTL],
        )
        return bool(written)

    async def load_board(self, session_id: str) -> str | None:
        value = await self._redis.get(self._board_key(session_id))
        return _text(value) if value else None

    async def forget_board(self, session_id: str) -> None:
        await self._redis.delete(self._board_key(session_id))

    async def placement(self, session_id: str) -> str | None:
        """The node id holding ``session_id`` now, if any (for tests and operators)."""
        value = await self._redis.get(self._placement_key(session_id))
        return _text(value) if value else None
