"""The operator console page in Chromium, and measurements across console and room pages."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.harness import JOIN_TIMEOUT_S, MEDIA_TIMEOUT_S, BrowserPage, RoomPage, wait_until


class ConsolePage(BrowserPage):
    """The console and its debug hook (``window.rbc``)."""

    def state(self) -> dict[str, Any]:
        # Right after a (re)load the module may not have run yet.
        result: dict[str, Any] = self.evaluate(
            "() => window.rbc ? JSON.parse(JSON.stringify(window.rbc.state))"
            " : {phase: 'loading', board: null, previews: {}}"
        )
        return result

    def board(self) -> dict[str, Any]:
        """The last ``bridge_state`` the console shows."""
        board: dict[str, Any] | None = self.state()["board"]
        assert board is not None, f"{self.name} has no state yet{self.log_tail()}"
        return board

    def point(self, site: str) -> dict[str, Any]:
        point: dict[str, Any] = next(p for p in self.board()["points"] if p["site"] == site)
        return point

    def command(self, op: str, **fields: Any) -> dict[str, Any]:
        """Run a command from the page; ``{reply, sentAt, ackAt}`` (epoch ms)."""
        result: dict[str, Any] = self.evaluate(
            "([op, fields]) => window.rbc.command(op, fields)", [op, fields]
        )
        return result

    def click(self, site: str, op: str) -> None:
        """Press ``op``'s button on ``site``'s card, as an operator would."""
        self.page.locator(f".point[data-site='{site}'] button[data-op='{op}']").click()

    def stats(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self.evaluate("() => window.rbc.stats()")
        return result

    def wait_joined(self) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            state = self.state()
            return state if state["phase"] == "joined" and state["board"] is not None else None

        state: dict[str, Any] = wait_until(
            check,
            timeout=JOIN_TIMEOUT_S,
            message=lambda: f"{self.name} never joined: {self.dump()}",
        )
        return state

    def wait_point(self, site: str, timeout: float = JOIN_TIMEOUT_S, **expected: Any) -> None:
        """Wait until ``site``'s point shows ``expected`` (in state and on its card)."""

        def check() -> bool:
            point = self.point(site)
            if any(point.get(k) != v for k, v in expected.items()):
                return False
            card = self.page.locator(f".point[data-site='{site}']")
            shown = {"connection": "data-connection", "patch": "data-patch"}
            return all(
                card.get_attribute(attr) == str(expected[key])
                for key, attr in shown.items()
                if key in expected
            )

        wait_until(
            check,
            timeout=timeout,
            message=lambda: f"{self.name}: {site} never showed {expected}: {self.dump()}",
        )

    def wait_preview(self, site: str) -> int:
        """Wait until the preview of ``site`` decodes video; frames decoded so far."""
        frames: int = wait_until(
            lambda: self.stats().get(site, {}).get("framesDecoded", 0),
            timeout=MEDIA_TIMEOUT_S,
            interval=0.5,
            message=lambda: f"{self.name}: no preview of {site}: {self.stats()}{self.log_tail()}",
        )
        return frames

    def dump(self) -> str:
        return json.dumps(self.state(), ensure_ascii=False)[:1500] + self.log_tail()


def video_frames(room: RoomPage, key: str) -> int:
    """Frames ``room`` decoded from ``key`` so far (0 if it shows nothing of it)."""
    frames: int = room.stats().get(key, {}).get("framesDecoded", 0)
    return frames


def audio_packets(room: RoomPage, key: str) -> int:
    packets: int = room.stats().get(key, {}).get("audioPacketsReceived", 0)
    return packets


def wait_rising(room: BrowserPage, count: Any, what: str, by: int = 10) -> int:
    """Wait until ``count()`` grows by ``by``; returns the new value."""
    start = count()
    return int(
        wait_until(
            lambda: (n := count()) >= start + by and n,
            timeout=MEDIA_TIMEOUT_S,
            interval=0.5,
            message=lambda: f"{room.name}: {what} never rose past {start}{room.log_tail()}",
        )
    )


def assert_still(room: BrowserPage, count: Any, what: str, seconds: float = 3.0) -> None:
    """Once frames in flight have drained, ``count()`` stops moving for ``seconds``.

    Draining takes longer on a loaded machine, so this waits for a still window rather
    than assuming one drain time; a stream that keeps flowing never gives one and fails.
    """
    windows: list[tuple[int, int]] = []

    def still() -> bool:
        before = count()
        time.sleep(seconds)  # stillness is a duration: this window is what is measured
        windows.append((before, count()))
        return windows[-1][0] == windows[-1][1]

    wait_until(
        still,
        timeout=MEDIA_TIMEOUT_S,
        interval=0,
        message=lambda: f"{room.name}: {what} still rising (windows {windows[-3:]})",
    )


WATCH_FIRST_FRAME = """
([key, timeoutMs]) => {
  // Resolves to Date.now() when the first new frame from `key` is decoded here.
  const poll = async () => {
    const base = (await window.rb.stats())[key]?.framesDecoded ?? 0;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const frames = (await window.rb.stats())[key]?.framesDecoded ?? 0;
      if (frames > base) return Date.now();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return null;
  };
  window.__firstFrame = poll();
  return true;
}
"""


def patch_in_to_first_frame(
    console: ConsolePage, central: RoomPage, site: str
) -> tuple[float, float]:
    """Patch ``site`` in from ``console``: ms until ``central`` decodes its next frame,
    and ms until the command's ack (both from the moment the console sends it)."""
    central.evaluate(WATCH_FIRST_FRAME, [site, MEDIA_TIMEOUT_S * 1000])
    sent = console.command("patch_in", site=site)
    first = central.evaluate("() => window.__firstFrame")
    assert first is not None, f"{central.name} decoded nothing from {site}{central.log_tail()}"
    return float(first - sent["sentAt"]), float(sent["ackAt"] - sent["sentAt"])
