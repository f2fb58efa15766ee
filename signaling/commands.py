"""Operator commands (``command`` event): who may run them, what each one does.

Only an operator of the session's host site may command, and only its own session.
Patch state changes go to the hub (forwarding follows at once); recording and case
markers go to the recorder when the app has one, and are kept on the hub's board
either way (``bridge.director``). Every command returns the new ``bridge_state``.
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
from core.cases import MAX_CASE_NUMBER, MAX_MARKER_TEXT, CaseMarker, check_case_number
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

    def is_recording(self, session_id: str) -> bool: ...

    def started_at(self, session_id: str) -> datetime | None: ...

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
    ) -> object: ...


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

    def __init__(self, recorder: RecorderControl | None = None) -> None:
        self.recorder = recorder
        """The recorder; None keeps recording state and markers on the hub only."""

    def recording(self, hub: Hub) -> bool:
        """Whether the session is being recorded now."""
        if self.recorder is not None:
            return self.recorder.is_recording(hub.session_id)
        return hub.direction.recording

    def state(self, hub: Hub, session: SessionInfo, *, full: bool) -> dict[str, Any]:
        """The session's ``bridge_state`` for operators (``full``) or rooms."""
        return bridge_state(hub, session, recording=self.recording(hub), full=full)

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
        if self.recorder is None:
            since = (hub.direction.recording_since or hub.clock()) if start else None
        else:
            verb = "start" if start else "stop"
            try:
                if start:
                    await self.recorder.start(session, hub)
                else:
                    await self.recorder.stop(session.id)
            except Exception as exc:
                logger.exception("session %s: the recorder failed to %s", session.id, verb)
                raise RecorderFailed(f"the recorder could not {verb}: {exc}") from None
            # The recorder tells the board itself (the app wires ``Recorder.add_listener``
            # to ``Hub.set_recording``); asking it again costs nothing and covers a
            # recorder nobody wired. Its start time, never this command's.
            since = self.recorder.started_at(session.id)
        if not await hub.set_recording(since):
            await hub.announce()

    async def _mark(self, hub: Hub, command: Command, *, by: str) -> dict[str, str] | None:
        # A case number the archive does not know yet is no failure: the archive opens
        # the case (pending) and keeps the marker. A warning means the marker could not
        # be archived at all (no recording, the recorder failed).
        at = hub.clock()
        archived, note = False, "no recorder in this server"
        if self.recorder is not None:
            try:
                await self.recorder.add_marker(
                    hub.session_id, command.case_number, command.text, at, by=by
                )
                archived, note = True, ""
            except Exception as exc:
                code = getattr(exc, "code", "recorder_failed")
                note = f"{code}: {exc}"
                logger.warning(
                    "session %s: marker for case %s kept on the board only: %s",
                    hub.session_id,
                    command.case_number,
                    note,
                )
        marker = CaseMarker(command.case_number, command.text, at, by, archived, note)
        hub.direction.markers.append(marker)
        await hub.announce()
        if archived or self.recorder is None:
            return None
        return {"code": "marker_not_archived", "message": note}
