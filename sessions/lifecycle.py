"""One owner for a session's life: open, close, cancel, the scheduled end, shutdown.

Every way a session opens or ends goes through :class:`Lifecycle`: the REST routes, an
operator's ``close_session`` command, the clock (a session still open ``grace`` after
its scheduled end is closed) and the server's shutdown. The store changes the state
first, so a connection that arrives meanwhile is already refused; then each listener
(the recorder, then the relay) is told, in the order the composition root gave them:
the recording is sealed before the endpoints hear ``session_closed`` and are let go.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from core.ids import SessionId
from core.sessions import EndReason, SessionEnd, SessionInfo, SessionListener, SessionState
from sessions.sitetree import Scope
from sessions.store import Store
from sessions.views import SessionView

logger = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(minutes=10)
"""How long a session may run past its scheduled end before the clock closes it."""
CHECK_INTERVAL = 15.0
"""Seconds between two looks for sessions past their end (at most 30 by design)."""

_REASONS = {SessionState.CLOSED: EndReason.CLOSED, SessionState.CANCELLED: EndReason.CANCELLED}


class Lifecycle:
    """Opens and ends sessions, and tells every listener."""

    def __init__(
        self,
        store: Store,
        listeners: Sequence[SessionListener],
        *,
        grace: timedelta = DEFAULT_GRACE,
        interval: float = CHECK_INTERVAL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if grace < timedelta(0):
            raise ValueError("the grace after a session's end cannot be negative")
        if not 0 < interval <= 30:
            raise ValueError("sessions past their end are looked for every 0-30 s")
        self._store = store
        self._listeners = tuple(listeners)
        self._grace = grace
        self._interval = interval
        self._clock = clock

    async def _info(self, view: SessionView) -> SessionInfo:
        names = await asyncio.to_thread(self._store.site_names, view.site_ids)
        return view.info(names)

    async def open(
        self, session_id: str, *, scope: Scope = None, note: str = "", by: str = ""
    ) -> SessionView:
        """Open a planned session; raises the store's refusal (nothing changes then)."""
        view = await asyncio.to_thread(
            self._store.set_state, session_id, SessionState.OPEN, scope, note
        )
        logger.info("session %s opened by %s", session_id, by or "?")
        info = await self._info(view)
        for listener in self._listeners:
            try:
                await listener.session_opened(info)
            except Exception:
                logger.exception("session %s: %r failed on opening", session_id, listener)
        return view

    async def close(
        self,
        session_id: str,
        *,
        state: SessionState = SessionState.CLOSED,
        reason: EndReason | None = None,
        scope: Scope = None,
        note: str = "",
        by: str = "",
    ) -> SessionView:
        """Close (or cancel) a session and release what every part holds for it."""
        if state not in _REASONS:
            raise ValueError(f"a session ends closed or cancelled, not {state}")
        view = await asyncio.to_thread(self._store.set_state, session_id, state, scope, note)
        end = SessionEnd(SessionId(view.id), reason or _REASONS[state], state, self._clock(), by)
        logger.info("session %s %s by %s", session_id, end.reason, by or "the clock")
        await self._end(await self._info(view), end)
        return view

    async def cancel(
        self, session_id: str, *, scope: Scope = None, note: str = "", by: str = ""
    ) -> SessionView:
        """Cancel a planned session."""
        return await self.close(
            session_id, state=SessionState.CANCELLED, scope=scope, note=note, by=by
        )

    async def ended_elsewhere(self, info: SessionInfo, *, by: str = "") -> None:
        """Another process closed or cancelled ``info`` (the store says so already): tell
        this process's listeners, so what it holds for the session is released."""
        if info.state not in _REASONS:
            raise ValueError(f"session {info.id} is {info.state}, not ended")
        end = SessionEnd(SessionId(info.id), _REASONS[info.state], info.state, self._clock(), by)
        logger.info("session %s %s on another node", info.id, end.reason)
        await self._end(info, end)

    async def _end(self, info: SessionInfo, end: SessionEnd) -> None:
        for listener in self._listeners:
            try:
                await listener.session_ended(info, end)
            except Exception:
                logger.exception("session %s: %r failed on ending", info.id, listener)

    async def close_due(self) -> list[str]:
        """Close every open session whose end passed more than ``grace`` ago."""
        cutoff = self._clock() - self._grace
        due = await asyncio.to_thread(self._store.open_sessions, ended_before=cutoff)
        closed = []
        for view in due:
            try:
                await self.close(view.id, reason=EndReason.ENDED, note="hết giờ theo lịch")
            except Exception:
                # Closed by someone else in the meantime, or the database is away: the
                # next look tries again.
                logger.exception("session %s: closing at its scheduled end failed", view.id)
                continue
            closed.append(view.id)
        return closed

    async def run(self) -> None:
        """Look for sessions past their end every ``interval`` seconds, until cancelled."""
        while True:
            try:
                await self.close_due()
            except Exception:
                logger.exception("looking for sessions past their end failed")
            await asyncio.sleep(self._interval)

    async def shutdown(self, live: Iterable[SessionInfo]) -> None:
        """The server stops: the live part of each of ``live`` ends here; they stay open."""
        for info in live:
            end = SessionEnd(info.id, EndReason.SERVER_SHUTDOWN, SessionState.OPEN, self._clock())
            await self._end(info, end)
