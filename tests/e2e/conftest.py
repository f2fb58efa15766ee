"""End-to-end fixtures: a real server and Debian's Chromium driven by Playwright.

- ``live_server``: the app from ``web.app.create_app`` on 127.0.0.1:<free port>, in a
  thread with its own event loop, data folder in tmp, knowing ``e2e_session`` and
  ``e2e_sites``. Override those fixtures (or ``e2e_settings_overrides``) in a test module
  to change what the server knows; ``server_factory`` starts further servers.
- ``browser``: one headless Chromium for the e2e package (fake camera and microphone).
- ``client_loop``: an event loop in a thread of its own for Python endpoints
  (``signaling.client.BridgeClient``); ``client_loop.run(coro)`` waits for the result.
- ``open_room(site)``: a room page for ``site`` in its own browser context;
  ``open_page(url)``: any other page. Both are closed after the test.

Playwright's sync API is used: end-to-end tests are plain (not async) test functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.access import Role
from core.sessions import MemoryDirectory, SessionInfo, SiteInfo
from tests.e2e.harness import (
    CHROMIUM_ARGS,
    SITES,
    BrowserPage,
    LiveServer,
    LoopThread,
    RoomPage,
    ServerThread,
    data_dir_settings,
    make_session,
    new_page,
)
from web.app import create_app

ServerFactory = Callable[..., LiveServer]
OpenRoom = Callable[..., RoomPage]
OpenPage = Callable[..., BrowserPage]


@pytest.fixture
def e2e_sites() -> list[SiteInfo]:
    """The sites the test server knows (central office first)."""
    return list(SITES)


@pytest.fixture
def e2e_session(e2e_sites: list[SiteInfo]) -> SessionInfo:
    """The open session every room page joins unless told otherwise."""
    return make_session(sites=e2e_sites)


@pytest.fixture
def e2e_settings_overrides() -> dict[str, Any]:
    """Extra ``Settings`` fields for the test server (e.g. ``record_on_open``)."""
    return {}


@pytest.fixture
def server_factory(
    tmp_path_factory: pytest.TempPathFactory,
    e2e_settings_overrides: dict[str, Any],
) -> Iterator[ServerFactory]:
    """Start servers: ``server_factory(session, sites, sessions=[...], **settings)``."""
    started: list[ServerThread] = []

    def start(
        session: SessionInfo,
        sites: list[SiteInfo],
        *,
        sessions: list[SessionInfo] | None = None,
        **settings_overrides: Any,
    ) -> LiveServer:
        directory = MemoryDirectory([session, *(sessions or [])], sites)
        data_dir = Path(tmp_path_factory.mktemp("e2e-data"))
        overrides = {**e2e_settings_overrides, **settings_overrides}

        def build(port: int) -> tuple[Any, Any]:
            settings = data_dir_settings(data_dir, port, **overrides)
            return create_app(settings, directory=directory), settings

        thread = ServerThread(build)
        url = thread.start()
        started.append(thread)
        assert thread.app is not None and thread.settings is not None
        return LiveServer(
            url=url,
            app=thread.app,
            directory=directory,
            secret=thread.settings.signing_secret(),
            session=session,
            loop=thread.loop,
        )

    yield start
    for thread in reversed(started):
        thread.stop()


@pytest.fixture
def live_server(
    server_factory: ServerFactory, e2e_session: SessionInfo, e2e_sites: list[SiteInfo]
) -> LiveServer:
    """The test's server, knowing ``e2e_session`` and ``e2e_sites``."""
    return server_factory(e2e_session, e2e_sites)


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Any]:
    """Headless Chromium with a fake camera and microphone, shared by the e2e tests.

    Package scope (every test module here; each page has a browser context of its own),
    not session: Playwright's sync API keeps its event loop marked as running in the
    main thread while it is started, which breaks every async test that pytest runs
    meanwhile, so it must be stopped before ``pytest tests`` reaches the integration
    tests. Keep async tests out of this package.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=list(CHROMIUM_ARGS)
        )
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[OpenPage]:
    """``open_page(url, name=...)``: any page in its own context, closed after the test."""
    pages: list[BrowserPage] = []

    def open_(url: str, *, name: str = "page") -> BrowserPage:
        page = new_page(browser, url, name, BrowserPage)
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()


@pytest.fixture
def open_room(browser: Any, live_server: LiveServer) -> Iterator[OpenRoom]:
    """``open_room(site, role=..., token=..., lang=..., server=...)``: a room page.

    ``token`` replaces the fresh token the server would issue for ``site``; ``server``
    picks another server from ``server_factory``.
    """
    pages: list[RoomPage] = []

    def open_(
        site: str | None = None,
        *,
        role: Role = Role.ROOM,
        token: str | None = None,
        lang: str | None = None,
        server: LiveServer | None = None,
    ) -> RoomPage:
        target = server or live_server
        url = target.room_url(site, token=token, role=role, lang=lang)
        page = new_page(browser, url, site or "room", RoomPage)
        pages.append(page)
        return page

    yield open_
    # Close pages before the server stops, so the server sees them go.
    for page in pages:
        page.close()


@pytest.fixture
def client_loop() -> Iterator[LoopThread]:
    """A loop apart from the server's, for Python clients (aiortc) in a sync test."""
    thread = LoopThread("e2e-clients")
    yield thread
    thread.stop()
