"""The signaling directory backed by the scheduler's store (the default in create_app)."""

from __future__ import annotations

import asyncio

from core.sessions import SessionInfo, SiteInfo
from sessions.store import Store


class StoreDirectory:
    """Answers the signaling server from the database, off the event loop."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _session(self, session_id: str) -> SessionInfo | None:
        view = self._store.get_session(session_id)
        if view is None:
            return None
        return view.info(self._store.site_names(view.site_ids))

    async def session(self, session_id: str) -> SessionInfo | None:
        return await asyncio.to_thread(self._session, session_id)

    async def site(self, site_id: str) -> SiteInfo | None:
        view = await asyncio.to_thread(self._store.get_site, site_id)
        return view.info() if view else None
