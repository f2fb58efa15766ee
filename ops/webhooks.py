"""Signed webhooks: events POSTed to configured addresses, retried, logged.

An :class:`Event` (id, type, time, data) is queued by :meth:`Webhooks.emit`, which never
waits: the queue is bounded and a full queue drops the event (logged and counted) rather
than hold up the relay or a session's lifecycle. Worker tasks send each event to every
address; a failed attempt (no answer within ``timeout``, a connection error, a status
other than 2xx) is tried again after ``backoff * 2**n`` seconds (at most ``max_backoff``)
until ``max_attempts``. Each delivery is one row of the delivery log
(:class:`ops.models.WebhookDelivery`), updated at every attempt.

The signature (header :data:`SIGNATURE_HEADER`) is ``t=<unix seconds>,v1=<hex>`` where
``<hex>`` is HMAC-SHA256 over ``<t>.`` followed by the raw body, keyed with the shared
secret; :func:`verify` is what a receiver does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlalchemy import Engine, select, update

from core.db import Transactions
from core.sessions import EndReason, SessionEnd, SessionInfo
from ops.models import WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-RB-Signature"
EVENT_HEADER = "X-RB-Event"
EVENT_ID_HEADER = "X-RB-Event-Id"
TOLERANCE = 300
"""Seconds a receiver should accept between a signature's time and its own clock."""
STOPPED = "the server stopped before the delivery succeeded"
EVENT_TYPES = (
    "session.opened",
    "session.closed",
    "recording.sealed",
    "endpoint.joined",
    "endpoint.left",
    "endpoint.failed",
)
"""Every event type sent (README, "Webhooks")."""


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, as receivers get it."""

    type: str
    data: Mapping[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Stays the same across retries: receivers drop repeats by it."""
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    def body(self) -> bytes:
        """The JSON body POSTed."""
        doc = {"id": self.id, "type": self.type, "time": self.time.isoformat(), "data": self.data}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The :data:`SIGNATURE_HEADER` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = TOLERANCE
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(slots=True)
class _Job:
    event: Event
    url: str
    attempts: int = 0
    row: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A row of the delivery log, as the administrators' API shows it."""

    id: int
    event_id: str
    event_type: str
    url: str
    status: str
    attempts: int
    last_code: int | None
    last_error: str
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "last_code": self.last_code,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class DeliveryLog(Transactions):
    """The delivery log table."""

    def start(self, job: _Job, now: datetime) -> int:
        with self.write() as db:
            row = WebhookDelivery(
                event_id=job.event.id,
                event_type=job.event.type,
                url=job.url[:2000],
                status="pending",
                attempts=0,
                last_code=None,
                last_error="",
                created_at=now,
                updated_at=now,
            )
            db.add(row)
            db.flush()
            return row.id

    def attempt(
        self, row_id: int, attempts: int, status: str, code: int | None, error: str, now: datetime
    ) -> None:
        with self.write() as db:
            row = db.get(WebhookDelivery, row_id)
            if row is None:
                return
            row.attempts = attempts
            row.status = status
            row.last_code = code
            row.last_error = error[:500]
            row.updated_at = now

    def abandon(self, row_ids: Iterable[int], now: datetime) -> None:
        """The server stops: these deliveries will not be tried again."""
        ids = list(row_ids)
        if not ids:
            return
        with self.write() as db:
            db.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == "pending")
                .values(status="failed", last_error=STOPPED, updated_at=now)
            )

    def list(
        self, *, event_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[DeliveryView]:
        query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if event_id is not None:
            query = query.where(WebhookDelivery.event_id == event_id)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        with self.read() as db:
            return [
                DeliveryView(
                    r.id,
                    r.event_id,
                    r.event_type,
                    r.url,
                    r.status,
                    r.attempts,
                    r.last_code,
                    r.last_error,
                    r.created_at,
                    r.updated_at,
                )
                for r in db.scalars(query)
            ]


class Webhooks:
    """Queues events and delivers them in the background (see the module's text)."""

    def __init__(
        self,
        engine: Engine,
        urls: Sequence[str],
        secret: str,
        *,
        queue_size: int = 1000,
        workers: int = 4,
        timeout: float = 5.0,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_attempts < 1 or workers < 1 or queue_size < 1:
            raise ValueError("webhooks need at least one attempt, worker and queue place")
        self.log = DeliveryLog(engine)
        self.urls = tuple(urls)
        self._secret = secret
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_size)
        self._workers = workers
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._retries: set[asyncio.TimerHandle] = set()
        self._http: aiohttp.ClientSession | None = None
        self._open_rows: set[int] = set()
        """This process's log rows still pending (marked failed when it stops)."""
        self.dropped = 0
        """Deliveries dropped because the queue was full (metrics)."""
        self.delivered = 0
        """Deliveries that got a 2xx answer (metrics)."""
        self.failed = 0
        """Deliveries given up after the last attempt (metrics)."""

    @property
    def depth(self) -> int:
        """Deliveries waiting in the queue (retries waiting for their time not counted)."""
        return self._queue.qsize()

    @property
    def waiting_retries(self) -> int:
        """Deliveries waiting to be tried again."""
        return len(self._retries)

    def emit(self, event: Event) -> None:
        """Queue ``event`` for every address; never waits (a full queue drops it)."""
        for url in self.urls:
            self._put(_Job(event, url))

    def _put(self, job: _Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning(
                "webhook queue full: %s %s to %s dropped", job.event.type, job.event.id, job.url
            )

    async def start(self) -> None:
        """Start the workers (on the app's loop)."""
        if not self.urls:
            return
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={"User-Agent": "reception-bridge-webhooks"},
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self._workers)]

    async def close(self, drain: float = 2.0) -> None:
        """Stop: queued deliveries get up to ``drain`` seconds; then whatever this
        process has not delivered is given up (``failed`` in the log, :data:`STOPPED`)."""
        for handle in self._retries:
            handle.cancel()
        self._retries.clear()
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        try:
            await asyncio.to_thread(self.log.abandon, set(self._open_rows), self._clock())
        except Exception:
            logger.exception("webhooks: marking undelivered rows failed did not work")
        self._open_rows.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._attempt(job)
            except Exception:
                logger.exception("webhook %s to %s: delivery failed", job.event.id, job.url)
            finally:
                self._queue.task_done()

    async def _attempt(self, job: _Job) -> None:
        assert self._http is not None
        if job.row is None:
            job.row = await asyncio.to_thread(self.log.start, job, self._clock())
            self._open_rows.add(job.row)
        job.attempts += 1
        body = job.event.body()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, int(time.time()), body),
            EVENT_HEADER: job.event.type,
            EVENT_ID_HEADER: job.event.id,
        }
        code: int | None = None
        error = ""
        try:
            async with self._http.post(job.url, data=body, headers=headers) as resp:
                code = resp.status
                if not 200 <= resp.status < 300:
                    error = f"HTTP {resp.status}"
        except TimeoutError:
            error = f"no answer within {self._timeout:g} s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if not error:
            status = "delivered"
            self.delivered += 1
        elif job.attempts >= self._max_attempts:
            status = "failed"
            self.failed += 1
            logger.warning(
                "webhook %s %s to %s failed %d times, given up: %s",
                job.event.type,
                job.event.id,
                job.url,
                job.attempts,
                error,
            )
        else:
            status = "pending"
        await asyncio.to_thread(
            self.log.attempt, job.row, job.attempts, status, code, error, self._clock()
        )
        if status != "pending":
            self._open_rows.discard(job.row)
        else:
            # Scheduled once this attempt is logged, so the log's rows go in order.
            self._retry_later(job, min(self._backoff * 2 ** (job.attempts - 1), self._max_backoff))

    def _retry_later(self, job: _Job, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def again() -> None:
            self._retries.discard(handle)
            self._put(job)

        handle = loop.call_later(delay, again)
        self._retries.add(handle)


class SessionEvents:
    """A session listener (:class:`core.sessions.SessionListener`): ``session.opened``
    and ``session.closed`` (closed or cancelled; a server shutdown is no end)."""

    def __init__(self, webhooks: Webhooks) -> None:
        self._webhooks = webhooks

    async def session_opened(self, session: SessionInfo) -> None:
        self._webhooks.emit(Event("session.opened", _session_data(session)))

    async def session_ended(self, session: SessionInfo, end: SessionEnd) -> None:
        if end.reason is EndReason.SERVER_SHUTDOWN:
            return
        data = _session_data(session)
        data.update(state=str(end.state), reason=str(end.reason), by=end.by, at=end.at.isoformat())
        self._webhooks.emit(Event("session.closed", data))


def _session_data(session: SessionInfo) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "title": session.title,
        "host_site": session.host_site,
        "sites": sorted(session.sites),
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
    }
