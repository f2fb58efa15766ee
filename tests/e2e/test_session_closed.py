"""Issue 8: the room page and the operator console when the session ends.

Closed over REST or with the console's "Kết thúc phiên" button, both pages show "Phiên đã
kết thúc lúc HH:MM" (Hanoi time) and why, close their peer connections, stop the camera
and do not try to reconnect; the same token later shows the same notice. A server that
stops says so ("đang kết nối lại") and the pages connect again.

The lifecycle keeps sessions in the scheduler's database, so these tests book and open
their session over REST on a server without a ``MemoryDirectory`` (``closing_server``);
the browser and the page classes are the e2e harness's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from core.access import Role
from core.sessions import MemoryDirectory
from tests.e2e.console_harness import ConsolePage
from tests.e2e.harness import (
    HOST_SITE,
    JOIN_TIMEOUT_S,
    SITES,
    BrowserPage,
    LiveServer,
    RoomPage,
    make_session,
    new_page,
    wait_until,
)
from tests.e2e.store_server import StoreServer, store_server
from web.keys import RELAY

pytestmark = pytest.mark.chromium

ROOM_SITE = "bac-ninh"
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
QUIET_S = 5.0
"""How long a closed page must stay without a new connection to the server."""


def is_handshake(url: str) -> bool:
    """A new Engine.IO connection (not a request of one already open, which names its sid)."""
    return "/socket.io/" in url and "sid=" not in url


@dataclass
class ClosingServer:
    """A server answering from its scheduler database, with one session booked."""

    live: LiveServer
    store: StoreServer
    browser: Any
    pages: list[BrowserPage] = field(default_factory=list)
    handshakes: dict[str, list[str]] = field(default_factory=dict)
    """Per page name, the new connections it opened to the server, in order."""

    @property
    def session_id(self) -> str:
        return self.live.session.id

    def call(self, method: str, path: str, role: Role, body: Any = None) -> dict[str, Any]:
        """A REST call as ``role`` of the host site; the JSON answer (2xx only)."""
        answer: dict[str, Any] = self.store.call(method, path, body, role=role, site=HOST_SITE)
        return answer

    def open_session(self) -> None:
        opened = self.call("POST", f"/api/sessions/{self.session_id}/open", Role.OPERATOR)
        assert opened["state"] == "open", opened

    def session_state(self) -> str:
        view = self.call("GET", f"/api/sessions/{self.session_id}", Role.ADMINISTRATOR)
        return str(view["state"])

    def _watch(self, page: BrowserPage) -> None:
        seen = self.handshakes.setdefault(page.name, [])

        def note(url: str) -> None:
            if is_handshake(url):
                seen.append(url)

        page.page.on("request", lambda request: note(request.url))
        page.page.on("websocket", lambda socket: note(socket.url))

    def open_room(self, site: str = ROOM_SITE, *, lang: str | None = None) -> RoomPage:
        url = self.live.room_url(site, lang=lang)
        room = new_page(self.browser, url, site, RoomPage)
        self._watch(room)
        self.pages.append(room)
        return room

    def open_console(self, *, lang: str | None = None) -> ConsolePage:
        token = self.live.token(HOST_SITE, role=Role.OPERATOR)
        url = self.live.page_url("/console", token=token, lang=lang)
        console = new_page(self.browser, url, "console", ConsolePage)
        self._watch(console)
        self.pages.append(console)
        return console


@pytest.fixture
def closing_server(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClosingServer]:
    """The server, with a session of the host and ``ROOM_SITE`` booked (planned)."""
    with store_server(browser, tmp_path_factory) as store:
        sites = [s for s in SITES if s.id in (HOST_SITE, ROOM_SITE)]
        live = LiveServer(
            url=store.url,
            app=store.app,
            # Not the server's: it answers from its database (the session is booked below).
            directory=MemoryDirectory([], sites),
            secret=store.secret,
            session=make_session(sites=sites),
            loop=store.thread.loop,
        )
        server = ClosingServer(live, store, browser)
        booked = store.book(
            "Phiên tiếp công dân (kiểm thử kết thúc phiên)", host=HOST_SITE, sites=(ROOM_SITE,)
        )
        live.session = make_session(str(booked["id"]), sites=sites)
        try:
            yield server
        finally:
            # Pages first, so the server sees them go.
            for page in server.pages:
                page.close()


# ---------------------------------------------------------------- what the pages show


def notice(page: BrowserPage) -> dict[str, str] | None:
    """The session-ended notice as shown (None while hidden): title and reason."""
    result: dict[str, str] | None = page.evaluate(
        """() => {
          const box = document.getElementById("session-ended");
          if (!box || box.hidden || !box.offsetParent) return null;
          return {
            title: document.getElementById("session-ended-title").textContent,
            reason: document.getElementById("session-ended-reason").textContent,
          };
        }"""
    )
    return result


def state_of(page: BrowserPage) -> dict[str, Any]:
    assert isinstance(page, (RoomPage, ConsolePage))
    return page.state()


def wait_closed(page: BrowserPage) -> dict[str, Any]:
    """Wait until the page is out of the session for good and shows why; its state."""
    return wait_until(
        lambda: (s := state_of(page))["phase"] == "closed" and notice(page) and s,
        timeout=JOIN_TIMEOUT_S,
        message=lambda: (
            f"{page.name} never showed the session's end: "
            f"{json.dumps(state_of(page), ensure_ascii=False)[:800]}{page.log_tail()}"
        ),
    )


def hanoi_time(at: str) -> str:
    return datetime.fromisoformat(at).astimezone(HANOI).strftime("%H:%M")


def peer_connections(page: BrowserPage) -> list[dict[str, str]]:
    hook = "rb" if isinstance(page, RoomPage) else "rbc"
    result: list[dict[str, str]] = page.evaluate(f"() => window.{hook}.peerConnections()")
    return result


def assert_released(page: BrowserPage, legs: int) -> None:
    """The page's peer connections (at least ``legs``) are all closed."""
    pcs = peer_connections(page)
    assert len(pcs) >= legs, f"{page.name}: {pcs}"
    assert all(pc == {"signalingState": "closed", "connectionState": "closed"} for pc in pcs), (
        f"{page.name}: peer connections still open: {pcs}"
    )
    if isinstance(page, RoomPage):
        tracks = page.evaluate("() => window.rb.localTracks()")
        assert tracks and {t["readyState"] for t in tracks} == {"ended"}, tracks
        assert page.evaluate("() => document.getElementById('local-video').srcObject") is None


def assert_no_reconnect(server: ClosingServer, pages: list[BrowserPage]) -> None:
    """For ``QUIET_S`` no page opens a new connection and every page stays closed."""
    before = {name: len(seen) for name, seen in server.handshakes.items()}
    try:
        pages[0].page.wait_for_event(
            "request", predicate=lambda req: is_handshake(req.url), timeout=QUIET_S * 1000
        )
    except PlaywrightTimeoutError:
        pass  # the window passed without a new connection: what is expected
    else:
        raise AssertionError(f"{pages[0].name} connected again{pages[0].log_tail()}")
    after = {name: len(seen) for name, seen in server.handshakes.items()}
    assert after == before, f"new connections after the end: {server.handshakes}"
    for page in pages:
        assert state_of(page)["phase"] == "closed", page.log_tail()


def joined_pair(server: ClosingServer, **room_options: Any) -> tuple[RoomPage, ConsolePage]:
    """The session opened, with a room page and a console in it."""
    server.open_session()
    room = server.open_room(**room_options)
    console = server.open_console()
    room.wait_joined()
    console.wait_joined()
    # Both legs carry media before the end: the console previews the room.
    console.wait_preview(ROOM_SITE)
    return room, console


# ---------------------------------------------------------------- tests


def test_closing_over_rest_ends_the_room_page_and_the_console(
    closing_server: ClosingServer,
) -> None:
    server = closing_server
    room, console = joined_pair(server)

    closed = server.call("POST", f"/api/sessions/{server.session_id}/close", Role.ADMINISTRATOR)
    assert closed["state"] == "closed", closed

    for page in (room, console):
        state = wait_closed(page)
        end = state["closed"]
        assert end["reason"] == "closed" and end["state"] == "closed", end
        assert end["session_id"] == server.session_id
        assert state["error"] is None and state["warning"] is None
        shown = notice(page)
        assert shown == {
            "title": f"Phiên đã kết thúc lúc {hanoi_time(end['at'])}",
            "reason": "Lý do: đã đóng.",
        }, shown
        assert page.page.locator("#phase").inner_text() == "Phiên đã kết thúc"
        assert not page.page.locator("main").is_visible()
    assert_released(room, legs=2)
    assert_released(console, legs=1)
    assert room.page.locator("#rejoin").is_hidden() and room.page.locator("#leave").is_hidden()
    assert_no_reconnect(server, [room, console])

    # The same address later: refused by the server, the same notice without a time.
    room.page.reload()
    state = wait_closed(room)
    assert state["closed"]["at"] is None, state["closed"]
    assert notice(room) == {
        "title": "Phiên đã kết thúc",
        "reason": "Phiên tiếp công dân đã kết thúc hoặc bị hủy.",
    }
    assert state["error"] is None
    assert_no_reconnect(server, [room])


def test_the_console_button_ends_the_session_for_every_page(
    closing_server: ClosingServer,
) -> None:
    server = closing_server
    room, console = joined_pair(server, lang="en")
    button = console.page.locator("#close-session")
    assert button.inner_text() == "Kết thúc phiên" and button.is_enabled()

    # The confirm step: dismissed, nothing happens.
    asked: list[str] = []

    def answer(accept: bool) -> Callable[[Any], None]:
        def on_dialog(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return on_dialog

    console.page.once("dialog", answer(False))
    button.click()
    assert asked and "Kết thúc phiên" in asked[0], asked
    assert server.session_state() == "open"
    assert console.state()["phase"] == "joined" and room.state()["phase"] == "joined"

    console.page.once("dialog", answer(True))
    button.click()
    assert len(asked) == 2
    for page in (room, console):
        end = wait_closed(page)["closed"]
        assert end["reason"] == "closed" and end["by"], end
    at = hanoi_time(console.state()["closed"]["at"])
    assert notice(console) == {
        "title": f"Phiên đã kết thúc lúc {at}",
        "reason": "Lý do: đã đóng.",
    }
    assert notice(room) == {"title": f"The session ended at {at}", "reason": "Reason: closed."}
    # The command's ack is no error, and nothing else is shown over the notice.
    assert console.state()["warning"] is None and console.state()["error"] is None
    assert console.page.locator("#error").is_hidden()
    assert server.session_state() == "closed"
    assert_released(room, legs=2)
    assert_released(console, legs=1)
    assert_no_reconnect(server, [room, console])


def test_a_refused_close_shows_the_servers_error(closing_server: ClosingServer) -> None:
    server = closing_server  # booked, not opened: a planned session cannot be closed
    console = server.open_console()
    console.wait_joined()
    console.page.once("dialog", lambda dialog: dialog.accept())
    console.page.locator("#close-session").click()
    state = wait_until(
        lambda: (s := console.state())["warning"] and s,
        timeout=JOIN_TIMEOUT_S,
        message=lambda: f"no refusal shown: {console.dump()}",
    )
    refusal = state["warning"]
    assert refusal["code"] not in ("webrtc_failed", "unknown"), refusal
    shown = console.page.locator("#error")
    assert shown.is_visible()
    assert shown.locator("#error-code").inner_text() == refusal["code"]
    assert shown.locator("#error-message").inner_text() == refusal["message"] != ""
    assert state["phase"] == "joined" and state["closed"] is None
    assert notice(console) is None
    assert server.session_state() == "planned"


def test_a_server_shutdown_is_awaited_not_ended(closing_server: ClosingServer) -> None:
    server = closing_server
    server.open_session()
    room = server.open_room()
    first = room.wait_joined()["endpointId"]
    # What a stopping server does to the sessions it hosts (web/live/setup.py): the relay
    # ends each hub with reason server_shutdown; the HTTP side stays up here, so the page
    # finds the server again at once.
    server.live.run(server.live.app[RELAY].close())
    room.page.wait_for_function(
        """(text) => window.rb.state.warning?.code === "server_restarting"
            && !window.rb.state.closed
            && document.getElementById("error-text").textContent === text""",
        arg="Máy chủ đang khởi động lại, đang kết nối lại…",
        polling=50,
        timeout=JOIN_TIMEOUT_S * 1000,
    )
    assert notice(room) is None
    # It reconnects: a new endpoint in the same session, and the notice is gone.
    state = wait_until(
        lambda: (s := room.wait_joined())["endpointId"] != first and s,
        timeout=JOIN_TIMEOUT_S,
        message=lambda: f"never joined again: {room.state()}{room.log_tail()}",
    )
    assert state["warning"] is None and state["closed"] is None, state
    assert room.page.locator("#error").is_hidden()
