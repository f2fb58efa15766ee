"""Operator commands (``command`` event): who may run them, what each one does.

Only an operator of the session's host site may command, and only its own session.
Patch state changes go to the hub (forwarding follows at once); recording and case
markers go to the recorder, the one writer of both on the hub's board
(``bridge.director``); closing the session goes to the session lifecycle. Every
command returns the new ``bridge_state``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bridge.errors import BadRequest, BridgeError
from bridge.frames import EndpointId
from bridge.hub import Hub
from bridge.patch import PatchState
from core.access import Role
from core.cases import MAX_CASE_NUMBER, MAX_MARKER_TEXT, check_case_number
from core.sessions import SessionInfo
from signaling.admission import Admission
from signaling.board import bridge_state

logger = logging.getLogger(__name__)


class NotAllowed(BridgeError):
    """The endpoint's role, site or session may not run this command."""

    code = "not_allowed"


class UnknownPoint(BridgeError):
    """The command names a site that is not a point of this session (yet)."""

    code = "unknown_point"


class NotConnected(BridgeError):
    """The command needs the point connected (drop) and it is not."""

    code = "not_connected"


class RecorderFailed(BridgeError):
    """The recorder refused or failed to start or stop."""

    code = "recorder_failed"


class CloseRefused(BridgeError):
    """The session could not be closed (already closed, say); ``code`` is the scheduler's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Op(enum.StrEnum):
    """The operator's commands."""

    PATCH_IN = "patch_in"
    PATCH_OUT = "patch_out"
    MUTE = "mute"
    UNMUTE = "unmute"
    DROP = "drop"
    RECORD_START = "record_start"
    RECORD_STOP = "record_stop"
    MARK_CASE = "mark_case"
    CLOSE_SESSION = "close_session"


POINT_OPS = frozenset({Op.PATCH_IN, Op.PATCH_OUT, Op.MUTE, Op.UNMUTE, Op.DROP})
"""Commands that name a point (``site``)."""


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise BadRequest(f'field "{name}" must be a string')
    value = value.strip()
    if required and not value:
        raise BadRequest(f'field "{name}" is required')
    if len(value) > limit:
        raise BadRequest(f'field "{name}" is longer than {limit} characters')
    return value


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed ``command`` payload."""

    op: Op
    """What to do."""
    site: str = ""
    """The point (site id) for point commands."""
    case_number: str = ""
    """For ``mark_case``."""
    text: str = ""
    """For ``mark_case``: free text."""
    session: str = ""
    """The session the operator means; must be its own when given."""

    @classmethod
    def parse(cls, payload: Any) -> Command:
        if not isinstance(payload, dict):
            raise BadRequest("payload must be a JSON object")
        try:
            op = Op(str(payload.get("op")))
        except ValueError:
            names = ", ".join(o.value for o in Op)
            raise BadRequest(f'field "op" must be one of: {names}') from None
        site = _text(payload, "site", 100, required=op in POINT_OPS)
        marking = op is Op.MARK_CASE
        case_number = _text(payload, "case_number", MAX_CASE_NUMBER, required=marking)
        if marking:
            # The archive's rule, checked on what was sent (a stray newline is refused).
            try:
                case_number = check_case_number(str(payload["case_number"]))
            except ValueError as exc:
                raise BadRequest(f'field "case_number": {exc}') from None
        text = _text(payload, "text", MAX_MARKER_TEXT, required=False)
        session = _text(payload, "session", 200, required=False)
        return cls(op, site, case_number, text, session)


class RecorderControl(Protocol):
    """What commands need of the recorder (``recorder.service.Recorder`` is one)."""

    async def start(self, session: SessionInfo, hub: Hub) -> bool: ...

    async def stop(self, session_id: str) -> object: ...

    async def add_marker(
        self,
        session_id: str,
        case_number: str,
        text: str,
        at: datetime | None = None,
        *,
        by: str = "",
        board: Hub | None = None,
    ) -> object: ...


class SessionCloser(Protocol):
    """Closes a session for good (``sessions.lifecycle.Lifecycle`` is one)."""

    async def close(self, session_id: str, *, by: str = "") -> object: ...


Dropper = Callable[[EndpointId], Awaitable[None]]
"""Disconnects an endpoint's socket (the namespace does it; the hub then drops it)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A command's answer: the new state, and a warning when part of it fell short."""

    state: dict[str, Any]
    """The ``bridge_state`` after the command."""
    warning: dict[str, str] | None = None
    """``{code, message}`` when the command did its part but something else did not."""

    def as_ack(self) -> dict[str, Any]:
        ack: dict[str, Any] = {"state": self.state}
        if self.warning is not None:
            ack["warning"] = self.warning
        return ack


class Commands:
    """Runs operator commands against a session's hub."""

    def __init__(self, recorder: RecorderControl, sessions: SessionCloser) -> None:
        self._recorder = recorder
        self._sessions = sessions

    def state(self, hub: Hub, session: SessionInfo, *, full: bool) -> dict[str, Any]:
        """The session's ``bridge_state`` for operators (``full``) or rooms."""
        return bridge_state(hub, session, full=full)

    def authorize(self, admission: Admission, hub: Hub, command: Command) -> None:
        """Raise :class:`NotAllowed` unless an operator of this session's host commands."""
        claims = admission.claims
        if claims.role is not Role.OPERATOR:
            raise NotAllowed(f"role {claims.role} may not run operator commands")
        if claims.site != hub.host_site:
            raise NotAllowed(f"only operators of the host site {hub.host_site} may command")
        if command.session and command.session != hub.session_id:
            raise NotAllowed(f"this operator runs session {hub.session_id}, not {command.session}")

    async def run(self, admission: Admission, hub: Hub, payload: Any, drop: Dropper) -> Outcome:
        """Parse, authorize and run one command; raise a :class:`BridgeError` if refused."""
        command = Command.parse(payload)
        self.authorize(admission, hub, command)
        session = admission.session
        warning = None
        if command.op in POINT_OPS:
            await self._point(hub, session, command, drop)
        elif command.op is Op.RECORD_START:
            await self._record(hub, session, start=True)
        elif command.op is Op.RECORD_STOP:
            await self._record(hub, session, start=False)
        elif command.op is Op.CLOSE_SESSION:
            await self._close(session, admission)
        else:
            warning = await self._mark(hub, command, by=admission.claims.subject)
        logger.info(
            "session %s site %s: operator %s ran %s %s",
            hub.session_id,
            admission.site.id,
            admission.claims.subject,
            command.op,
            command.site or command.case_number,
        )
        return Outcome(self.state(hub, session, full=True), warning)

    async def _point(self, hub: Hub, session: SessionInfo, command: Command, drop: Dropper) -> None:
        site = command.site
        if site not in session.sites:
            raise UnknownPoint(f"site {site} does not take part in session {session.id}")
        if hub.point_patch(site) is None:
            raise UnknownPoint(f"site {site} has not joined session {session.id} yet")
        if command.op in (Op.PATCH_IN, Op.PATCH_OUT) and site == hub.host_site:
            raise BadRequest(f"the host site {site}'s feed always goes to every point")
        if command.op is Op.PATCH_IN:
            await hub.set_point(site, state=PatchState.LIVE)
        elif command.op is Op.PATCH_OUT:
            await hub.set_point(site, state=PatchState.STANDBY)
        elif command.op is Op.MUTE:
            await hub.set_point(site, muted=True)
        elif command.op is Op.UNMUTE:
            await hub.set_point(site, muted=False)
        else:
            endpoints = hub.point_endpoints(site)
            if not endpoints:
                raise NotConnected(f"site {site} is not connected")
            for endpoint_id in endpoints:
                await drop(endpoint_id)

    async def _record(self, hub: Hub, session: SessionInfo, *, start: bool) -> None:
        # The recorder puts its state on the board (its own start time); an answer that
        # changes nothing (already recording) still tells everyone the state.
        revision = hub.direction.revision
        verb = "start" if start else "stop"
        try:
            if start:
                await self._recorder.start(session, hub)
            else:
                await self._recorder.stop(session.id)
        except Exception as exc:
            logger.exception("session %s: the recorder failed to %s", session.id, verb)
            raise RecorderFailed(f"the recorder could not {verb}: {exc}") from None
        if hub.direction.revision == revision:
            await hub.announce()

    async def _mark(self, hub: Hub, command: Command, *, by: str) -> dict[str, str] | None:
        # The recorder archives the marker and puts it on the board, archived or not. A
        # case number the archive does not know yet is no failure: it opens the case
        # (pending). A warning means the archive could not take the marker (no
        # recording, the recorder failed); the board still shows it.
        try:
            await self._recorder.add_marker(
                hub.session_id, command.case_number, command.text, hub.clock(), by=by, board=hub
            )
        except Exception as exc:
            note = f"{getattr(exc, 'code', 'recorder_failed')}: {exc}"
            logger.warning(
                "session %s: marker for case %s not archived: %s",
                hub.session_id,
                command.case_number,
                note,
            )
            return {"code": "marker_not_archived", "message": note}
        return None

    async def _close(self, session: SessionInfo, admission: Admission) -> None:
        by = admission.claims.subject or f"{admission.claims.role}@{admission.site.id}"
        try:
            await self._sessions.close(session.id, by=by)
        except Exception as exc:
            code = str(getattr(exc, "code", "close_failed"))
            raise CloseRefused(code, f"the session could not be closed: {exc}") from None
