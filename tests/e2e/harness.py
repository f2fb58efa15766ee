"""End-to-end harness: the real server in a thread of its own, room pages in Chromium.

The fixtures in ``tests/e2e/conftest.py`` build on these classes; tests of other pages
(operator console, archive) reuse :class:`LiveServer` and :class:`BrowserPage`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from config.settings import Settings
from core.access import Role
from core.ids import SessionId, SiteId
from core.sessions import MemoryDirectory, SessionInfo, SessionState, SiteInfo
from signaling.tokens import issue_token

T = TypeVar("T")

# DESIGN.md "Testing with the real parts", plus autoplay so remote audio plays out.
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
)

SITES = (
    SiteInfo(
        SiteId("tw-hanoi"), "Ban Tiếp công dân Trung ương", "Central Citizen Reception Office"
    ),
    SiteInfo(
        SiteId("bac-ninh"), "Ban Tiếp công dân tỉnh Bắc Ninh", "Bac Ninh Citizen Reception Office"
    ),
    SiteInfo(
        SiteId("ha-giang"), "Ban Tiếp công dân tỉnh Hà Giang", "Ha Giang Citizen Reception Office"
    ),
    SiteInfo(
        SiteId("tp-hcm"), "Trụ sở Tiếp công dân tại TP Hồ Chí Minh", "Ho Chi Minh City Office"
    ),
)
HOST_SITE = "tw-hanoi"
SESSION_ID = "e2e-phien-tiep"

# Polling budgets: two shared cores, other engineers' tests running alongside.
JOIN_TIMEOUT_S = 60.0
MEDIA_TIMEOUT_S = 60.0


def make_session(
    session_id: str = SESSION_ID,
    *,
    sites: Iterable[SiteInfo] = SITES,
    host_site: str = HOST_SITE,
    title: str = "Phiên tiếp công dân định kỳ (kiểm thử)",
    state: SessionState = SessionState.OPEN,
    record: bool = True,
    now: datetime | None = None,
) -> SessionInfo:
    """An open session that started a few minutes ago and lasts two hours."""
    moment = now or datetime.now(UTC)
    site_list = list(sites)
    return SessionInfo(
        id=SessionId(session_id),
        title=title,
        host_site=SiteId(host_site),
        sites=frozenset(s.id for s in site_list),
        state=state,
        starts_at=moment - timedelta(minutes=5),
        ends_at=moment + timedelta(hours=2),
        record=record,
        site_names={s.id: s for s in site_list},
    )


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.25,
    message: str | Callable[[], str] = "condition not met",
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``message`` on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    text = message() if callable(message) else message
    raise AssertionError(f"{text} (after {timeout:.0f} s; last value {last!r})")


@dataclass
class LiveServer:
    """A running server: its address, its app, and helpers to act on it."""

    url: str
    """Base address, ``http://127.0.0.1:<port>``."""
    app: web.Application
    """The application, for tests that inspect server state (use :meth:`run`)."""
    directory: MemoryDirectory
    """The sessions and sites the server knows; ``put_session`` changes them live."""
    secret: str
    """The token signing secret."""
    session: SessionInfo
    """The default session of the test."""
    loop: asyncio.AbstractEventLoop
    """The server's event loop (its own thread)."""

    def token(
        self,
        site: str,
        *,
        role: Role = Role.ROOM,
        session: str | None = None,
        secret: str | None = None,
        **kwargs: Any,
    ) -> str:
        """A token for ``site``; ``session`` defaults to the test's session."""
        return issue_token(
            secret or self.secret,
            role=role,
            site=site,
            session=session or self.session.id,
            subject=f"{role}@{site}",
            **kwargs,
        )

    def page_url(self, path: str, *, token: str | None = None, lang: str | None = None) -> str:
        """``path`` on this server with ``?token=`` and ``?lang=`` when given."""
        query = {k: v for k, v in (("token", token), ("lang", lang)) if v is not None}
        return f"{self.url}{path}" + (f"?{urlencode(query)}" if query else "")

    def room_url(
        self,
        site: str | None = None,
        *,
        token: str | None = None,
        role: Role = Role.ROOM,
        lang: str | None = None,
    ) -> str:
        """The room page for ``site`` (a fresh token) or with the given ``token``."""
        if token is None and site is not None:
            token = self.token(site, role=role)
        return self.page_url("/room", token=token, lang=lang)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


class LoopThread:
    """An asyncio loop in a daemon thread; :meth:`run` runs a coroutine there and waits."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Cancel what is still running on the loop, then end the thread."""
        try:
            self.run(_cancel_leftovers(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self.loop.close()


async def _cancel_leftovers() -> None:
    # Whatever is left (engine.io's ping and service tasks...) ends here, not as
    # "Task was destroyed but it is pending" when the loop closes.
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


class ServerThread:
    """Serves an aiohttp app on 127.0.0.1 from a :class:`LoopThread` of its own."""

    def __init__(self, build: Callable[[int], tuple[web.Application, Settings]]) -> None:
        self._build = build
        self._thread = LoopThread("e2e-server")
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.settings: Settings | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._thread.loop

    def start(self, timeout: float = 30.0) -> str:
        """Bind a free port, start serving, return the base address."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]

        async def setup() -> None:
            self.app, self.settings = self._build(port)
            self._runner = web.AppRunner(self.app, handle_signals=False)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        self._thread.run(setup(), timeout)
        return f"http://127.0.0.1:{port}"

    def stop(self, timeout: float = 60.0) -> None:
        """Clean up the app (closing peer connections must not hang) and end the thread."""
        try:
            if self._runner is not None:
                self._thread.run(self._runner.cleanup(), timeout)
        finally:
            self._thread.stop(timeout)


@dataclass
class BrowserPage:
    """A page in its own browser context (its own fake camera and microphone)."""

    page: Any
    """The Playwright ``Page``."""
    context: Any
    """The Playwright ``BrowserContext``; closing it closes the page."""
    name: str
    """Label in failure messages (usually the site)."""
    console: list[str] = field(default_factory=list)
    """The page's console lines and uncaught errors, for failure messages."""

    def __post_init__(self) -> None:
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        self.page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))

    def evaluate(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def log_tail(self, lines: int = 25) -> str:
        return f"\n--- console of {self.name} ---\n" + "\n".join(self.console[-lines:])

    def close(self) -> None:
        self.context.close()


class RoomPage(BrowserPage):
    """The room page and its debug hook (``window.rb``)."""

    def state(self) -> dict[str, Any]:
        """``window.rb.state``: phase, error, warning, peers, tracks, remotes..."""
        # Right after a (re)load, "Tham gia lại" for one, the module may not have run yet.
        result: dict[str, Any] = self.evaluate(
            "() => window.rb ? JSON.parse(JSON.stringify(window.rb.state))"
            " : {phase: 'loading', peers: [], tracks: [], remotes: [], board: null, onAir: null}"
        )
        return result

    def stats(self) -> dict[str, dict[str, Any]]:
        """``await window.rb.stats()``: per remote site (keyed by site id) what arrives."""
        result: dict[str, dict[str, Any]] = self.evaluate("() => window.rb.stats()")
        return result

    def publish_stats(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self.evaluate("() => window.rb.publishStats()")
        return result

    def wait_phase(self, phase: str, timeout: float = JOIN_TIMEOUT_S) -> dict[str, Any]:
        """Wait until the page reaches ``phase`` (``joined``, ``error``, ``left``...)."""
        return wait_until(
            lambda: (s := self.state())["phase"] == phase and s,
            timeout=timeout,
            message=lambda: (
                f"{self.name}: phase never became {phase}: "
                f"{json.dumps(self.state(), ensure_ascii=False)[:800]}{self.log_tail()}"
            ),
        )

    def wait_joined(self, timeout: float = JOIN_TIMEOUT_S) -> dict[str, Any]:
        """Wait until the page is in the session and its publish leg is connected."""
        return wait_until(
            lambda: (
                (s := self.state())["phase"] == "joined" and s["publishState"] == "connected" and s
            ),
            timeout=timeout,
            message=lambda: (
                f"{self.name}: never joined with media up: "
                f"{json.dumps(self.state(), ensure_ascii=False)[:800]}{self.log_tail()}"
            ),
        )

    def wait_receiving(self, key: str, timeout: float = MEDIA_TIMEOUT_S) -> dict[str, Any]:
        """Wait until video frames and audio packets from ``key`` (a site id) arrive."""

        def check() -> dict[str, Any] | None:
            entry = self.stats().get(key)
            if entry and entry["framesDecoded"] > 0 and entry["audioPacketsReceived"] > 0:
                return entry
            return None

        return wait_until(
            check,
            timeout=timeout,
            interval=0.5,
            message=lambda: (
                f"{self.name}: no media from {key}: "
                f"{json.dumps(self.stats(), ensure_ascii=False)[:1200]}{self.log_tail()}"
            ),
        )

    def on_air(self) -> dict[str, Any]:
        """The on-air banner as shown (``{}`` while hidden): ``patch`` (live/standby),
        ``muted``, ``case`` (the case number shown, or None) and its visible texts."""
        result: dict[str, Any] = self.evaluate(
            """() => {
              const box = document.getElementById("on-air");
              if (box.hidden) return {};
              const shown = (id) => {
                const el = document.getElementById(id);
                return el.hidden ? null : el.textContent;
              };
              return {
                patch: box.dataset.patch,
                muted: box.dataset.muted === "true" && shown("on-air-muted") !== null,
                case: window.rb?.state.onAir?.case_number ?? null,
                state_text: shown("on-air-state"),
                detail_text: shown("on-air-detail"),
                muted_text: shown("on-air-muted"),
                case_text: shown("on-air-case"),
              };
            }"""
        )
        return result

    def wait_on_air(self, timeout: float = JOIN_TIMEOUT_S, **expected: Any) -> dict[str, Any]:
        """Wait until the on-air banner shows ``expected`` (keys of :meth:`on_air`)."""

        def check() -> dict[str, Any] | None:
            shown = self.on_air()
            if shown and all(shown.get(k) == v for k, v in expected.items()):
                return shown
            return None

        return wait_until(
            check,
            timeout=timeout,
            message=lambda: f"{self.name}: banner never showed {expected}: {self.on_air()}",
        )

    def remote_keys(self) -> set[str]:
        """Sites shown as tiles right now."""
        return {r["key"] for r in self.state()["remotes"]}

    def leave(self) -> None:
        """Press the leave button and wait until the page says it left."""
        self.page.locator("#leave").click()
        self.wait_phase("left")

    def error_box(self) -> dict[str, str]:
        """The visible error: title, text, code and the server's message."""
        box = self.page.locator("#error")
        return {
            "title": box.locator("h2").inner_text(),
            "text": box.locator("#error-text").inner_text(),
            "code": box.locator("#error-code").inner_text(),
            "message": box.locator("#error-message").inner_text(),
        }


P = TypeVar("P", bound=BrowserPage)


def new_page(browser: Any, url: str, name: str, cls: type[P]) -> P:
    """Open ``url`` in a fresh context of ``browser`` as ``cls``."""
    context = browser.new_context(permissions=["camera", "microphone"])
    context.set_default_timeout(JOIN_TIMEOUT_S * 1000)
    page = context.new_page()
    wrapped = cls(page=page, context=context, name=name)
    page.goto(url)
    return wrapped


def data_dir_settings(data_dir: Path, port: int, **overrides: Any) -> Settings:
    """Settings for a test server: its own data folder, port and secret; the forwarding
    mode from ``RB_FORWARDING`` if set (a test's own override wins)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "data_dir": data_dir,
        "secret": "e2e-secret-" + "x" * 32,
    }
    if "RB_FORWARDING" in os.environ:
        values["forwarding"] = os.environ["RB_FORWARDING"]
    values.update(overrides)
    return Settings(**values)
