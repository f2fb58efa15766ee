"""A hostile Socket.IO client for the fuzz test, run in a process of its own.

    python -m tests.sio_fuzzer < spec.json > result.json

``spec``: ``url``, ``seed``, ``events`` (how many to send), ``seconds`` (a bound on
the run), ``tokens`` (valid tokens to connect with) and ``limit`` (the server's
largest message). Several connections (``CONNECTIONS``) send events drawn from a
seeded generator: random and reserved event names, payloads of every JSON shape and
wrong types (nesting up to 2,000 deep, strings up to past the message limit, unicode
of every plane, lone surrogates), binary attachments, extra arguments, no argument,
with an ack asked for or not, raw packets that are not JSON; connections are opened
with valid tokens, with garbage tokens and with auth of the wrong type.

It runs in its own process so that its CPU does not come out of the live sites'
event loop in the test. Prints one JSON object: what was sent, every ack's answer by
kind (error codes), the acks never answered, and the connections refused or dropped.
A connection the server drops on purpose (a packet past the transport's limit) is
sent no ack-asking event after the oversized one: every ack asked for is owed.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import sys
import time
from typing import Any

import socketio

from signaling.namespace import NAMESPACE

CONNECTIONS = 4
IN_FLIGHT = 16
"""Acks a connection may wait for at once."""
ACK_WAIT = 20.0
"""How long an ack is waited for at the end before it counts as never answered."""
EVENTS = ("publish", "subscribe_answer", "command", "state", "leave")
"""The namespace's events; ``leave`` last (drawn apart, see ``Generator.event``)."""
RESERVED = ("connect", "disconnect", "__malformed__", "message", "*", "connect_error", "error")
OPS = ("patch_in", "mute", "unmute", "mark_case", "record_start", "record_stop")
"""Command ops sent with random fields. ``drop``, ``patch_out`` and ``close_session`` are
left out: from the session's operator (one of the tokens) they would rightly take a live
site off the air, which is not what the test measures."""


class Generator:
    def __init__(self, rng: random.Random, limit: int) -> None:
        self.rng = rng
        self.limit = limit

    def text(self, size: int | None = None) -> str:
        r = self.rng
        n = size if size is not None else r.choice((0, 1, 5, 40, 300))
        alphabets = (
            "abcxyz",
            "Tiếp công dân Hà Nội ĐđƯư",
            "\u0000\u0001\n\t\"'\\/<>{}[]",
            "😀𝔘𐍈\U0010ffff",
            "\ud800\udfff",  # lone surrogates
            "٣ह中日한",
        )
        chars = r.choice(alphabets)
        return "".join(r.choice(chars) for _ in range(n))

    def scalar(self) -> Any:
        r = self.rng
        return r.choice(
            (
                None,
                True,
                False,
                0,
                -1,
                2**63,
                -(2**80),
                r.random() * 1e308,
                float("inf") if r.random() < 0.5 else float("nan"),
                self.text(),
                r.randrange(-(10**6), 10**6),
            )
        )

    def value(self, depth: int = 0) -> Any:
        r = self.rng
        roll = r.random()
        if depth > 4 or roll < 0.4:
            return self.scalar()
        if roll < 0.7:
            return {
                self.text(r.choice((1, 8))): self.value(depth + 1) for _ in range(r.randrange(4))
            }
        return [self.value(depth + 1) for _ in range(r.randrange(4))]

    def nested(self) -> Any:
        """Nesting the client can still encode (deeper ones go as raw text, ``deep``)."""
        depth = self.rng.choice((20, 50, 150))
        value: Any = self.scalar()
        for _ in range(depth):
            value = [value] if self.rng.random() < 0.5 else {"a": value}
        return value

    def payload(self, event: str) -> Any:
        r = self.rng
        roll = r.random()
        if roll < 0.30 and event in EVENTS:
            return self.shaped(event)
        if roll < 0.40:
            return self.nested()
        if roll < 0.45:
            # Up to 1/16 of the limit in characters: JSON writes an astral one as 12
            # bytes, so the packet stays under the transport's limit (the deliberate
            # oversized packets are counted apart).
            return self.text(r.choice((1000, 10_000, self.limit // 16)))
        if roll < 0.55:
            return r.randbytes(r.choice((0, 10, 5000)))
        if roll < 0.62:
            return {"sdp": r.randbytes(100), "type": "offer"}
        return self.value()

    def shaped(self, event: str) -> Any:
        """A payload of about the right shape, with fields wrong in random ways."""
        r = self.rng
        sdp = r.choice(
            (
                "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
                "v=0\r\n" + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" * r.randrange(1, 300),
                self.text(200),
                "",
            )
        )
        if event == "publish":
            return {"type": r.choice(("offer", "answer", 5, None)), "sdp": r.choice((sdp, 7, []))}
        if event == "subscribe_answer":
            return {
                "type": "answer",
                "sdp": sdp,
                "revision": r.choice((0, 1, -5, 2**70, "1", None, 1.5)),
            }
        if event == "command":
            return {
                "op": r.choice((*OPS, "explode", "", 5, None)),
                "site": r.choice(("bac-ninh", "tw-hanoi", "ca-mau", self.text(), 3, None)),
                "case_number": r.choice(("KN-1", self.text(300), 12, None)),
                "text": r.choice((self.text(), self.text(5000), [], None)),
                "session": r.choice(("s-x", self.text(), None)),
            }
        return r.choice(({}, {"full": True}, [], None))

    def event(self) -> str:
        r = self.rng
        roll = r.random()
        if roll < 0.01:
            return "leave"  # ends a valid connection: rare, or connections would be short
        if roll < 0.65:
            return r.choice(EVENTS[:-1])
        if roll < 0.75:
            return r.choice(RESERVED)
        return self.text(r.choice((1, 10, 200)))

    def args(self, event: str) -> tuple[Any, ...]:
        r = self.rng
        roll = r.random()
        if roll < 0.08:
            return ()
        if roll < 0.18:
            return tuple(self.payload(event) for _ in range(r.randrange(2, 5)))
        return (self.payload(event),)

    def raw(self) -> str:
        """A text packet of the ``/bridge`` namespace that is not what it claims."""
        r = self.rng
        return r.choice(
            (
                '2/bridge,["state",{"not json',
                "2/bridge," + "[" * 3000 + "]" * 3000,
                '2/bridge,{"event":"state"}',
                "2/bridge,42",
                "2/bridge," + json.dumps([self.text(30)]),
                "2/bridge,",
                '21/bridge,["state",{}]',
                "3/bridge,1[]",
                "9/bridge,[]",
                '2/nowhere,["state",{}]',
            )
        )

    def deep(self, event: str) -> str:
        """A text event packet nested 500 to 5,000 deep, as JSON text."""
        depth = self.rng.choice((500, 1000, 2000, 5000))
        opening, closing = self.rng.choice((("[", "]"), ('{"a":', "}")))
        return f"2/bridge,{json.dumps([event])[:-1]},{opening * depth}1{closing * depth}]"

    def auth(self, tokens: list[str]) -> Any:
        r = self.rng
        roll = r.random()
        if roll < 0.6:
            return {"token": r.choice(tokens)}
        return r.choice(
            (
                {"token": 12345},
                {"token": self.text(50)},
                {"token": tokens[0][:-3] + "abc"},
                {"token": [tokens[0]]},
                {"token": None},
                {"token": "x" * 20_000},
                {},
                "token",
                [tokens[0]],
                None,
            )
        )


class Tally:
    def __init__(self) -> None:
        self.sent = 0
        self.sent_by_kind: collections.Counter[str] = collections.Counter()
        self.acks_asked = 0
        self.answers: collections.Counter[str] = collections.Counter()
        self.unanswered: list[str] = []
        self.connects = 0
        self.refused: collections.Counter[str] = collections.Counter()
        self.dropped_after_oversize = 0
        self.let_go = 0
        self.lost: list[str] = []
        self.trails: list[list[str]] = []
        self.errors_heard: collections.Counter[str] = collections.Counter()


def _kind(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        code = answer["error"].get("code")
        return f"error:{code}" if isinstance(code, str) and code else "error:<no code>"
    if isinstance(answer, dict):
        return "ok:" + ",".join(sorted(answer)[:3])
    return f"other:{type(answer).__name__}"


async def _connection(
    index: int, spec: dict[str, Any], gen: Generator, tally: Tally, deadline: float
) -> None:
    quota = spec["events"] // CONNECTIONS
    sent = 0
    while sent < quota and time.monotonic() < deadline:
        sio = socketio.AsyncClient(reconnection=False)
        refused: list[Any] = []
        sio.on("connect_error", refused.append, namespace=NAMESPACE)

        async def heard(data: Any = None) -> None:
            code = data.get("code") if isinstance(data, dict) else None
            tally.errors_heard[str(code)] += 1

        sio.on("error", heard, namespace=NAMESPACE)
        auth = gen.auth(spec["tokens"])
        try:
            await sio.connect(
                spec["url"],
                auth=auth,
                namespaces=[NAMESPACE],
                transports=["websocket"],
                wait_timeout=10,
            )
        except socketio.exceptions.ConnectionError as exc:
            why = refused[0] if refused else None
            if isinstance(why, dict) and isinstance(why.get("data"), dict):
                why = why["data"]
            code = why.get("code") if isinstance(why, dict) else str(exc)[:40]
            tally.refused[str(code)] += 1
            await asyncio.wait_for(sio.disconnect(), 10)
            continue
        tally.connects += 1
        pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        loop = asyncio.get_running_loop()
        oversize = False
        trail: list[str] = []
        tally.trails.append(trail)
        try:
            burst = gen.rng.randrange(20, 400)
            for _ in range(burst):
                if sent >= quota or time.monotonic() > deadline or not sio.connected:
                    break
                sent += 1
                tally.sent += 1
                roll = gen.rng.random()
                if roll < 0.04:
                    tally.sent_by_kind["raw"] += 1
                    text = gen.raw()
                    trail.append(f"#{tally.sent} raw {text[:40]!r}")
                    await sio.eio.send(text)
                    continue
                if roll < 0.045:
                    tally.sent_by_kind["raw_deep"] += 1
                    await sio.eio.send(gen.deep(gen.event()))
                    continue
                if roll < 0.05:
                    # A binary event whose placeholder names an attachment that is not there.
                    tally.sent_by_kind["raw_binary"] += 1
                    num = gen.rng.choice((0, 1, 3, -1, "a"))
                    trail.append(f"#{tally.sent} raw_binary {num}")
                    await sio.eio.send(
                        '51-/bridge,["state",{"_placeholder":true,"num":' + json.dumps(num) + "}]"
                    )
                    await sio.eio.send(gen.rng.randbytes(gen.rng.randrange(0, 50)))
                    continue
                if roll < 0.06:
                    # Past the transport's limit: the server drops this connection. Every
                    # ack asked for on it is waited for first.
                    await _drain(pending, tally)
                    tally.sent_by_kind["oversize"] += 1
                    oversize = True
                    await sio.emit("state", "x" * (spec["limit"] + 1000), namespace=NAMESPACE)
                    break
                event = gen.event()
                args = gen.args(event)
                data: Any = args[0] if len(args) == 1 else args
                if not args:
                    data = None
                trail.append(f"#{tally.sent} {event[:20]!r} {repr(data)[:40]}")
                if gen.rng.random() < 0.3:
                    tally.sent_by_kind["no_ack"] += 1
                    await sio.emit(event, data, namespace=NAMESPACE)
                    if event == "leave":
                        await _drain(pending, tally)
                        break
                    continue
                tally.sent_by_kind["ack"] += 1
                tally.acks_asked += 1
                future: asyncio.Future[Any] = loop.create_future()

                def answered(*answer: Any, future: asyncio.Future[Any] = future) -> None:
                    if not future.done():
                        future.set_result(answer[0] if len(answer) == 1 else list(answer))

                await sio.emit(event, data, namespace=NAMESPACE, callback=answered)
                pending[tally.sent] = (event[:40], future)
                if event == "leave":
                    # A valid endpoint's leave lets the connection go: owed acks first,
                    # nothing more on it.
                    await _drain(pending, tally)
                    break
                if len(pending) >= IN_FLIGHT:
                    await _drain(pending, tally, keep=IN_FLIGHT // 2)
            await _drain(pending, tally)
        except socketio.exceptions.BadNamespaceError:
            # The server closed this connection when it should not have.
            tally.lost.append(f"connection {index} after {sent} events")
            await _drain(pending, tally)
        finally:
            if oversize:
                await asyncio.sleep(0.5)
                tally.dropped_after_oversize += not sio.connected
            elif not sio.connected:
                tally.let_go += 1  # ``leave`` is among the events
            await asyncio.wait_for(sio.disconnect(), 10)


async def _drain(
    pending: dict[int, tuple[str, asyncio.Future[Any]]], tally: Tally, keep: int = 0
) -> None:
    """Wait (together, at most ``ACK_WAIT``) for the oldest acks until ``keep`` are left."""
    oldest = sorted(pending)[: max(len(pending) - keep, 0)]
    if not oldest:
        return
    await asyncio.wait([pending[n][1] for n in oldest], timeout=ACK_WAIT)
    for number in oldest:
        event, future = pending.pop(number)
        if future.done():
            tally.answers[_kind(future.result())] += 1
        else:
            future.cancel()
            tally.unanswered.append(f"#{number} {event!r}")


async def main() -> None:
    spec = json.loads(sys.stdin.read())
    rng = random.Random(spec["seed"])
    tally = Tally()
    started = time.monotonic()
    deadline = started + spec["seconds"]
    limit = int(spec["limit"])
    await asyncio.gather(
        *(
            _connection(i, spec, Generator(random.Random(rng.random()), limit), tally, deadline)
            for i in range(CONNECTIONS)
        )
    )
    result = {
        "seed": spec["seed"],
        "seconds": round(time.monotonic() - started, 1),
        "sent": tally.sent,
        "sent_by_kind": dict(tally.sent_by_kind),
        "acks_asked": tally.acks_asked,
        "answers": dict(tally.answers.most_common()),
        "unanswered": tally.unanswered[:20],
        "unanswered_count": len(tally.unanswered),
        "connects": tally.connects,
        "refused": dict(tally.refused),
        "dropped_after_oversize": tally.dropped_after_oversize,
        "let_go_by_the_server": tally.let_go,
        "connections_lost": tally.lost,
        "trails_with_unanswered": [
            t[-14:]
            for t in tally.trails
            if any(u.split()[0] in " ".join(t) for u in tally.unanswered)
        ][:3],
        "error_events_heard": dict(tally.errors_heard.most_common()),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
