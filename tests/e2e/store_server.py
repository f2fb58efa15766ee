"""A test server on its scheduler database, shared by the sign-in, home and desk e2e tests.

Unlike ``live_server`` (a ``MemoryDirectory``), this server answers from its own database
like production: the default site tree is loaded, people are accounts with a known
password, sessions are booked over REST or through the pages. ``store_server(...)``
starts one and stops it (its pages first, so the server sees them go).

Screenshots are saved in the pytest temporary folder and copied to ``/tmp/rb-screens/``.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest

from core.access import Role
from signaling.tokens import issue_token
from tests.e2e.harness import BrowserPage, P, ServerThread, data_dir_settings, new_page
from web.accounts.keys import ACCOUNTS
from web.app import create_app
from web.keys import STORE

HOST = "tw-hanoi"
VIEWPORT = {"width": 1366, "height": 768}
WALL = {"width": 1920, "height": 1080}
UI_TIMEOUT_S = 20.0
SHARED_SCREENS = Path("/tmp/rb-screens")

User = tuple[str, str, tuple[Role, ...]]
"""(display name, site, roles) of an account, by user name."""

# A message key shown as is: dotted lower-case words ("home.room.join"), not part of an
# address or a file name. i18n.js shows a missing key as the key itself.
RAW_KEY = re.compile(r"(?<![\w./:@-])[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+(?![\w/@-])")


@dataclass
class StoreServer:
    """A running server on its scheduler database, its accounts and its pages."""

    url: str
    app: Any
    secret: str
    browser: Any
    screens: Path
    thread: ServerThread
    password: str
    pages: list[BrowserPage] = field(default_factory=list)
    booked: list[str] = field(default_factory=list)
    """Sessions :meth:`book` made, for :meth:`end_booked`."""

    def token(self, role: Role = Role.ADMINISTRATOR, site: str = HOST) -> str:
        return issue_token(self.secret, role=role, site=site, subject=f"{role}@e2e")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        role: Role = Role.ADMINISTRATOR,
        site: str = HOST,
    ) -> Any:
        """A REST call as ``role`` of ``site`` (a token, not a cookie); 2xx only."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body if body is not None else {}).encode(),
            headers={
                "Authorization": f"Bearer {self.token(role, site)}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except HTTPError as err:
            raise AssertionError(f"{method} {path}: {err.code} {err.read()!r}") from err

    def book(
        self,
        title: str,
        *,
        starts_in: timedelta = timedelta(minutes=-5),
        lasts: timedelta = timedelta(hours=2),
        host: str = HOST,
        sites: tuple[str, ...] = ("bac-ninh",),
        record: bool = False,
    ) -> dict[str, Any]:
        """A planned session of ``host`` and ``sites`` (by default: started 5 min ago)."""
        start = datetime.now(UTC).replace(microsecond=0) + starts_in
        booked: dict[str, Any] = self.call(
            "POST",
            "/api/sessions",
            {
                "title": title,
                "host_site": host,
                "starts_at": start.isoformat(),
                "ends_at": (start + lasts).isoformat(),
                "participants": list(sites),
                "allow_day_off": True,
                "record": record,
            },
        )
        self.booked.append(str(booked["id"]))
        return booked

    def end_booked(self) -> None:
        """Close or cancel what :meth:`book` made and is still planned or open: a site
        without a named room receives in one session at a time, so a server shared by
        several tests must not keep one test's sessions in the next one's way."""
        for session_id in self.booked:
            state = self.session_state(session_id)
            if state == "open":
                self.call("POST", f"/api/sessions/{session_id}/close", {"reason": "e2e"})
            elif state == "planned":
                self.call("POST", f"/api/sessions/{session_id}/cancel", {"reason": "e2e"})
        self.booked.clear()

    def session_state(self, session_id: str) -> str:
        return str(self.call("GET", f"/api/sessions/{session_id}")["state"])

    def add_users(self, users: Mapping[str, User]) -> None:
        """Accounts with the server's known password (the one-time one already changed)."""
        accounts = self.app[ACCOUNTS]
        for name, (display, site, roles) in users.items():
            _, one_time = accounts.add_user(name, display, site, roles, by="e2e")
            accounts.set_password(name, one_time, self.password)

    def open_page(self, path: str, name: str) -> BrowserPage:
        """``path`` in a fresh browser context at 1366x768, closed after the test."""
        return self.open_as(BrowserPage, path, name)

    def open_as(self, cls: type[P], path: str, name: str) -> P:
        """:meth:`open_page` wrapped as ``cls`` (``RoomPage`` for a page that goes on to
        the room page, ``ConsolePage`` for the console)."""
        page = new_page(self.browser, self.url + path, name, cls)
        page.page.set_viewport_size(VIEWPORT)
        page.context.set_default_timeout(UI_TIMEOUT_S * 1000)
        self.pages.append(page)
        return page

    def sign_in(
        self, user: str, password: str | None = None, *, path: str = "/login"
    ) -> BrowserPage:
        """A fresh browser signed in as ``user`` through the form, on the home page."""
        return self.sign_in_as(BrowserPage, user, password, path=path)

    def sign_in_as(
        self, cls: type[P], user: str, password: str | None = None, *, path: str = "/login"
    ) -> P:
        """:meth:`sign_in`, the page wrapped as ``cls``."""
        page = self.open_as(cls, path, user)
        fill_sign_in(page, user, password or self.password)
        page.page.wait_for_url(f"{self.url}/", timeout=UI_TIMEOUT_S * 1000)
        wait_home(page)
        return page

    def screenshot(self, page: BrowserPage, name: str) -> Path:
        """``name``.png of what the page shows, here and in /tmp/rb-screens for the lead."""
        path = self.screens / f"{name}.png"
        page.page.screenshot(path=str(path), full_page=False)
        SHARED_SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHARED_SCREENS / path.name)
        return path

    def screenshots(self, page: BrowserPage, name: str) -> list[Path]:
        """``name``.png at 1366x768 and ``name``-1920x1080.png, back to 1366x768 after."""
        shots = [self.screenshot(page, name)]
        page.page.set_viewport_size(WALL)
        shots.append(self.screenshot(page, f"{name}-1920x1080"))
        page.page.set_viewport_size(VIEWPORT)
        return shots

    def close_pages(self) -> None:
        for page in self.pages:
            page.close()
        self.pages.clear()


@contextmanager
def store_server(
    browser: Any,
    tmp_path_factory: pytest.TempPathFactory,
    *,
    users: Mapping[str, User] | None = None,
    password: str = "mật-khẩu-kiểm-thử-2026",
    **settings_overrides: Any,
) -> Iterator[StoreServer]:
    """Start a server on a fresh database with the default site tree and ``users``."""
    data_dir = tmp_path_factory.mktemp("store-data")
    screens = tmp_path_factory.mktemp("screens")

    def build(port: int) -> tuple[Any, Any]:
        settings = data_dir_settings(data_dir, port, **settings_overrides)
        return create_app(settings), settings

    thread = ServerThread(build)
    url = thread.start()
    assert thread.app is not None and thread.settings is not None
    server = StoreServer(
        url, thread.app, thread.settings.signing_secret(), browser, screens, thread, password
    )
    try:
        thread.app[STORE].load_tree()
        server.add_users(users or {})
        yield server
    finally:
        server.close_pages()
        thread.stop()


def fill_sign_in(page: BrowserPage, user: str, password: str) -> None:
    p = page.page
    p.get_by_label("Tên đăng nhập").fill(user)
    p.get_by_label("Mật khẩu", exact=True).fill(password)
    p.get_by_role("button", name="Đăng nhập").click()


def wait_home(page: BrowserPage) -> None:
    """The home page has its person and its sections."""
    page.page.locator("#who-name:not(:empty)").wait_for()
    page.page.locator("#loading").wait_for(state="hidden")


def raw_keys(page: BrowserPage) -> list[str]:
    """Visible texts, placeholders, titles and labels that look like message keys."""
    texts: list[str] = page.evaluate(
        """() => {
          const out = [document.title, document.body.innerText];
          for (const node of document.querySelectorAll("*")) {
            if (!node.getClientRects().length) continue;
            for (const attr of ["placeholder", "title", "aria-label", "value"]) {
              const value = node.getAttribute(attr);
              if (value && !(node.tagName === "INPUT" && attr === "value" && node.type !== "submit"
                  && node.type !== "button")) out.push(value);
            }
          }
          return out;
        }"""
    )
    return sorted({m.group(0) for text in texts for m in RAW_KEY.finditer(text)})
