"""The recorder API for the rest of the server: start, stop, mark, recover.

Signaling and the operator console call these; the composition root calls
``on_session_open``/``on_session_close`` from the session lifecycle and ``recover``
at start-up. Recording attaches a :class:`RecordingSink` to the session's hub
(``hub.add_sink``), so the hub hands it every up-track's encoded frames.

Each recording's worker is fed through a bounded queue (``recorder/framequeue.py``:
never blocks the relay, drops video to the next keyframe and audio beyond its own
share when the worker falls behind, writes the gaps into the manifest); its depth and
lag are :meth:`Recorder.queue_stats`, :meth:`Recorder.queue_depth` and
:meth:`Recorder.queue_lag`.

The recorder is the one writer of the recording state and of case markers on the
session's board (the hub's director board): however a recording starts or stops
(command, session opened or closed, a worker that gave up, shutdown) and whoever
marks a case (the console, REST), it goes through here and the board hears it.

A recording belongs to the one live process writing it (``recorder/ownership.py``: a
``flock`` held in its folder): recovery and a node continuing a session take over only a
recording whose writer is gone; :meth:`Recorder.release` lets one go unsealed (a drain).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bridge.frames import FrameSink, TrackId
from core.cases import CaseMarker
from core.sessions import SessionInfo
from recorder.archive import Archive, ArchiveError, MarkerView
from recorder.framequeue import DropRun, QueueLimits, QueueStats
from recorder.integrity import seal
from recorder.isolation import IsolatedRunner
from recorder.lifeline import HARD_STOP_SECONDS
from recorder.manifest import (
    MANIFEST_NAME,
    Manifest,
    RecordingState,
    read_manifest,
    write_manifest,
)
from recorder.models import RecordingStatus
from recorder.ownership import Ownership, claim, worker_gone
from recorder.recovery import close_unfinished, unfinished_folders
from recorder.sink import RecordingSink
from recorder.storage import check_name
from recorder.worker import RecordingWorker

logger = logging.getLogger(__name__)

RECORDINGS = "recordings"
MAX_RESTARTS = 3
"""A worker that keeps crashing is not restarted more often than this per recording."""
CLAIM_WAIT = 10.0
"""Seconds a node continuing a session's recording waits for its previous writer (a
draining node closing its part) to let it go."""
WORKER_WAIT = HARD_STOP_SECONDS + 3.0
"""Seconds to wait for the worker of a writer that died to close its files."""
DEFAULT_LEGAL_BASIS = (
    "Luật Tiếp công dân 42/2013/QH13; Nghị định 64/2014/NĐ-CP: tiếp công dân trực tuyến được "
    "ghi hình và lưu trữ (Law on Citizen Reception: online reception is recorded and kept)"
)


class Board(Protocol):
    """A session's director board as the recorder writes it (``bridge.hub.Hub`` is one)."""

    async def set_recording(self, since: datetime | None) -> bool: ...

    async def add_marker(self, marker: CaseMarker) -> None: ...


class SinkHost(Board, Protocol):
    """What the recorder needs of a session's hub (``bridge.hub.Hub`` is one)."""

    def add_sink(self, sink: FrameSink) -> None: ...

    def remove_sink(self, sink: FrameSink) -> None: ...


def request_keyframes(hub: SinkHost, track_id: TrackId | None = None) -> None:
    """Ask every video publisher of ``hub`` (or the one of ``track_id``) for a keyframe
    (audio tracks ignore it).

    Sent when a recording starts, so each site's file can begin at once, at every
    case marker, so an extract of the case starts at the marker instead of at an
    earlier keyframe (a browser sends keyframes only when asked), and for a track
    whose frames the recorder's queue dropped, so it resumes soon.
    """
    uptracks = getattr(hub, "uptracks", None)
    if isinstance(uptracks, Mapping):
        chosen = list(uptracks.values()) if track_id is None else [uptracks.get(track_id)]
        for uptrack in chosen:
            request = getattr(uptrack, "request_keyframe", None)
            if callable(request):
                request()


@dataclass(slots=True)
class _Active:
    session: SessionInfo
    worker: RecordingWorker
    sink: RecordingSink
    hub: SinkHost
    started_at: datetime
    t0: float
    folder: Path
    ownership: Ownership
    """This process's writer lock on ``folder`` (``recorder/ownership.py``)."""
    tapped: bool = False
    """The sink is attached to the hub."""
    restarts: int = 0
    """Workers started again after a crash."""


class Recorder:
    """Records sessions into ``root/recordings/<session>/`` and the archive."""

    def __init__(
        self,
        root: Path,
        archive: Archive,
        runner: IsolatedRunner,
        *,
        record_on_open: bool = True,
        settle: float = 2.0,
        clock: Callable[[], datetime] | None = None,
        queue_limits: QueueLimits | None = None,
    ) -> None:
        self.root = root
        self.archive = archive
        self.runner = runner
        self.record_on_open = record_on_open
        self.settle = settle
        self.queue_limits = queue_limits or QueueLimits()
        """Bound of each recording's queue in this process (``recorder/framequeue.py``)."""
        self._clock = clock or (lambda: datetime.now(UTC))
        self._active: dict[str, _Active] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._continuing: set[str] = set()
        self.sealed_listeners: list[Callable[[Manifest], None]] = []
        """Told of every recording sealed (webhooks); called on the event loop, must
        not block."""

    async def _tell(self, session_id: str, board: Board, started_at: datetime | None) -> None:
        try:
            await board.set_recording(started_at)
        except Exception:
            logger.exception("session %s: the board did not take the recording state", session_id)

    def folder(self, session_id: str) -> Path:
        return self.root / RECORDINGS / check_name(session_id)

    def is_recording(self, session_id: str) -> bool:
        return session_id in self._active

    def started_at(self, session_id: str) -> datetime | None:
        """When the running recording of ``session_id`` started; None if not recording."""
        active = self._active.get(session_id)
        return active.started_at if active else None

    def worker(self, session_id: str) -> RecordingWorker | None:
        active = self._active.get(session_id)
        return active.worker if active else None

    def queue_stats(self) -> dict[str, QueueStats]:
        """Each running recording's queue (depth, bytes, lag, drops), by session id."""
        return {sid: active.worker.queue.stats() for sid, active in self._active.items()}

    def dead_workers(self) -> list[str]:
        """Sessions whose recording worker process is not running (readiness)."""
        return [sid for sid, active in self._active.items() if not active.worker.alive]

    def queue_depth(self, session_id: str) -> int:
        """Messages waiting for ``session_id``'s worker (0 if not recording)."""
        active = self._active.get(session_id)
        return active.worker.queue.depth if active else 0

    def queue_lag(self, session_id: str) -> float:
        """Seconds the oldest message for ``session_id``'s worker has waited (0 if none)."""
        active = self._active.get(session_id)
        return active.worker.queue.lag if active else 0.0

    async def on_session_open(self, session: SessionInfo, hub: SinkHost) -> None:
        """Hook: a session opened; record it unless configured or booked otherwise."""
        if self.record_on_open and session.record:
            await self.start(session, hub)

    async def on_session_close(self, session_id: str) -> Manifest | None:
        """Hook: a session closed; returns the sealed manifest if it was recorded."""
        return await self.stop(session_id)

    def continue_recording(self, session_id: str) -> None:
        """The next :meth:`start` of ``session_id`` continues its unfinished recording
        (a node of a cluster took the session over from a node that died, or that drained
        and let the recording go, in the shared storage): once the previous writer's lock
        is free (``recorder/ownership.py``), its open files are closed (as at recovery),
        and the new parts go into the same folder and manifest, on the same clock.
        Without an unfinished recording free to take, the start is a normal one."""
        self._continuing.add(session_id)

    def _unfinished(self, session_id: str) -> Path | None:
        """The latest folder of ``session_id`` whose manifest still says recording."""
        folder = self.folder(session_id)
        latest = None
        n = 1
        while folder.exists():
            if self._still_recording(folder):
                latest = folder
            n += 1
            folder = self.folder(f"{session_id}.{n}")
        return latest

    @staticmethod
    def _still_recording(folder: Path) -> bool:
        try:
            return read_manifest(folder).state is RecordingState.RECORDING
        except (OSError, ValueError, KeyError, TypeError):
            logger.error("%s: manifest unreadable, left alone", folder)
            return False

    def _take_over(self, folder: Path, wait: float) -> Ownership | None:
        """Own ``folder``'s unfinished recording: its writer lock within ``wait`` seconds,
        then its worker gone; None (nothing held) if a live process still writes it or it
        was sealed meanwhile. Blocking: run in a thread."""
        ownership = claim(folder, wait)
        if ownership is None:
            logger.warning("%s: written by a live process, left alone", folder)
            return None
        if not worker_gone(folder, WORKER_WAIT):
            logger.error("%s: its recording worker still runs; left alone", folder)
            ownership.release()
            return None
        if not self._still_recording(folder):
            ownership.release()
            return None
        return ownership

    def _claim_unfinished(self, session_id: str) -> Ownership | None:
        folder = self._unfinished(session_id)
        if folder is None:
            return None
        return self._take_over(folder, CLAIM_WAIT)

    def _claim_new(self, session_id: str) -> Ownership:
        """A new folder for a recording of ``session_id``, owned by this process."""
        n = 1
        while True:
            folder = self.folder(session_id if n == 1 else f"{session_id}.{n}")
            n += 1
            # A second recording of the same session (stopped, then restarted) gets its
            # own folder, so sealed files are never reopened.
            if folder.exists():
                continue
            ownership = claim(folder)
            if ownership is None:
                continue  # another process took this name first
            if (folder / MANIFEST_NAME).exists():
                ownership.release()
                continue
            return ownership

    async def _continue(
        self, session: SessionInfo, hub: SinkHost, legal_basis: str, ownership: Ownership
    ) -> bool:
        """Continue the unfinished recording in ``ownership``'s folder (see
        :meth:`continue_recording`)."""
        folder = ownership.folder
        try:
            manifest = await self.runner.run(close_unfinished, folder)
        except BaseException:
            ownership.release()
            raise
        started_at = datetime.fromisoformat(manifest.started_at)
        # The same clock as the first part: offsets go on from the recording's start.
        t0 = time.monotonic() - (self._clock() - started_at).total_seconds()
        await self._open(session, hub, legal_basis, ownership, started_at, t0)
        logger.warning(
            "session %s: recording continues into %s after %d files of another node",
            session.id,
            folder,
            len(manifest.files),
        )
        await self._tell(session.id, hub, started_at)
        return True

    async def start(
        self, session: SessionInfo, hub: SinkHost, *, legal_basis: str = DEFAULT_LEGAL_BASIS
    ) -> bool:
        """Start recording ``session``; False if it is already being recorded."""
        async with self._lock:
            if session.id in self._active:
                return False
            if session.id in self._continuing:
                self._continuing.discard(session.id)
                taken = await asyncio.to_thread(self._claim_unfinished, session.id)
                if taken is not None:
                    return await self._continue(session, hub, legal_basis, taken)
            ownership = await asyncio.to_thread(self._claim_new, session.id)
            started_at = self._clock()
            await self._open(session, hub, legal_basis, ownership, started_at, time.monotonic())
            logger.info("session %s: recording into %s", session.id, ownership.folder)
            await self._tell(session.id, hub, started_at)
            return True

    async def _open(
        self,
        session: SessionInfo,
        hub: SinkHost,
        legal_basis: str,
        ownership: Ownership,
        started_at: datetime,
        t0: float,
    ) -> None:
        """Open the recording in ``ownership``'s folder in the archive, start its worker
        and tap the hub; the folder is let go if any of it fails."""
        folder = ownership.folder
        try:
            await asyncio.to_thread(
                self.archive.open_recording,
                folder.name,
                title=session.title,
                host_site=session.host_site,
                sites=sorted(session.sites),
                started_at=started_at,
                legal_basis=legal_basis,
            )
            worker = await self._spawn(folder, started_at, t0)
        except BaseException:
            ownership.release()
            raise
        active = _Active(
            session, worker, self._sink(worker, hub), hub, started_at, t0, folder, ownership
        )
        self._tap(active)
        self._active[session.id] = active

    async def _spawn(self, folder: Path, started_at: datetime, t0: float) -> RecordingWorker:
        worker = RecordingWorker(
            folder,
            folder.name,
            started_at.isoformat(),
            t0,
            settle=self.settle,
            limits=self.queue_limits,
        )
        await asyncio.to_thread(worker.start)
        return worker

    @staticmethod
    def _sink(worker: RecordingWorker, hub: SinkHost) -> RecordingSink:
        return RecordingSink(worker, lambda track_id: request_keyframes(hub, track_id))

    def _tap(self, active: _Active) -> None:
        """Attach the sink to the hub and watch the worker's exit."""
        active.hub.add_sink(active.sink)
        active.tapped = True
        request_keyframes(active.hub)
        worker = active.worker
        asyncio.get_running_loop().add_reader(
            worker.process.sentinel, self._worker_exited, active.session.id, worker
        )

    async def _restart(self, active: _Active) -> None:
        dead = active.worker
        active.worker = await self._spawn(active.folder, active.started_at, active.t0)
        # Frames still queued for the dead worker are a gap the new one records.
        active.worker.queue.adopt(dead.lost, dead.queue.stats())
        active.sink = self._sink(active.worker, active.hub)
        if self._active.get(active.session.id) is active:
            self._tap(active)

    def _worker_exited(self, session_id: str, worker: RecordingWorker) -> None:
        """The worker process ended: expected on stop, a crash otherwise (restart it)."""
        asyncio.get_running_loop().remove_reader(worker.process.sentinel)
        active = self._active.get(session_id)
        if active is None or active.worker is not worker:
            return
        worker.stop(timeout=1.0)
        logger.error(
            "session %s: recording worker died (exit code %s); %s",
            session_id,
            worker.process.exitcode,
            "restarting it" if active.restarts < MAX_RESTARTS else "giving up",
        )
        active.hub.remove_sink(active.sink)
        active.tapped = False
        if active.restarts >= MAX_RESTARTS:
            # Seal what was written and say so: the operator's board must not show a
            # recording that no longer runs (the law keeps every session recorded).
            task = asyncio.get_running_loop().create_task(self._give_up(session_id))
        else:
            active.restarts += 1
            task = asyncio.get_running_loop().create_task(self._restart(active))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _give_up(self, session_id: str) -> None:
        await self.stop(session_id)

    async def stop(self, session_id: str) -> Manifest | None:
        """Stop recording, close and seal the files; None if it was not recording."""
        async with self._lock:
            active = self._active.pop(session_id, None)
            if active is not None:
                await self._tell(session_id, active.hub, None)
        if active is None:
            return None
        # A restart may be under way; not this task itself when giving up calls stop().
        others = self._tasks - {asyncio.current_task()}
        await asyncio.gather(*others, return_exceptions=True)
        asyncio.get_running_loop().remove_reader(active.worker.process.sentinel)
        if active.tapped:
            active.hub.remove_sink(active.sink)
        ended = self._clock()
        clean = await asyncio.to_thread(active.worker.stop)
        if not clean:
            logger.error("session %s: worker ended badly; recovering its files", session_id)
        try:
            return await self._seal(
                active.folder,
                active.started_at,
                ended,
                recovered=not clean,
                lost=(active.t0, active.worker.lost),
            )
        finally:
            active.ownership.release()

    async def release(self, session_id: str) -> bool:
        """Close this process's part of ``session_id``'s recording and let the recording
        go unsealed (a draining node moves the session to another node, which continues
        it: :meth:`continue_recording`); False if it was not recording here.

        The board is not told (the recording goes on elsewhere); frames dropped that no
        worker recorded go into the manifest as gaps, as at a stop."""
        async with self._lock:
            active = self._active.pop(session_id, None)
        if active is None:
            return False
        others = self._tasks - {asyncio.current_task()}
        await asyncio.gather(*others, return_exceptions=True)
        asyncio.get_running_loop().remove_reader(active.worker.process.sentinel)
        if active.tapped:
            active.hub.remove_sink(active.sink)
        try:
            clean = await asyncio.to_thread(active.worker.stop)
            if active.worker.lost:
                await asyncio.to_thread(_add_lost, active.folder, active.t0, active.worker.lost)
        finally:
            active.ownership.release()
        logger.info(
            "session %s: recording part closed%s; %s let go for the next node",
            session_id,
            "" if clean else " (worker ended badly)",
            active.folder,
        )
        return True

    async def add_marker(
        self,
        session_id: str,
        case_number: str,
        text: str,
        at: datetime | None = None,
        *,
        by: str = "",
        board: Board | None = None,
    ) -> MarkerView:
        """Mark that ``case_number`` is discussed from ``at`` (default now) on.

        The marker goes into the archive and onto the session's board (the recorded
        hub's, else ``board``), marked archived or not. Raises the archive's
        :class:`ArchiveError` when the archive could not take it (not recording...).
        """
        active = self._active.get(session_id)
        board = active.hub if active is not None else board
        recording_id = active.folder.name if active else session_id
        moment = at or self._clock()
        try:
            view = await asyncio.to_thread(
                self.archive.add_marker, recording_id, case_number, text, moment, by=by
            )
        except ArchiveError as exc:
            note = f"{exc.code}: {exc}"
            await self._show(board, CaseMarker(case_number, text, moment, by, False, note))
            raise
        await self._show(board, CaseMarker(view.case_number, view.text, moment, by, True))
        if active is not None:
            request_keyframes(active.hub)
        return view

    async def _show(self, board: Board | None, marker: CaseMarker) -> None:
        if board is None:
            return
        try:
            await board.add_marker(marker)
        except Exception:
            logger.exception("case %s: the board did not take the marker", marker.case_number)

    async def recover(self) -> list[str]:
        """Close recordings a crash left unfinished (run at start-up, before serving):
        those whose writer process is gone; one a live process writes is left to it."""
        done = []
        for folder in unfinished_folders(self.root / RECORDINGS):
            if any(a.folder == folder for a in self._active.values()):
                continue
            # A recording another live process writes (another node sharing the data
            # folder) is not ours to close (``recorder/ownership.py``).
            ownership = await asyncio.to_thread(self._take_over, folder, 0.0)
            if ownership is None:
                continue
            try:
                manifest = await self._seal(folder, None, None, recovered=True)
            finally:
                ownership.release()
            done.append(manifest.session_id)
        return done

    async def close(self) -> None:
        """Stop every recording (server shutdown)."""
        for session_id in list(self._active):
            await self.stop(session_id)

    async def _seal(
        self,
        folder: Path,
        started_at: datetime | None,
        ended_at: datetime | None,
        *,
        recovered: bool,
        lost: tuple[float, list[DropRun]] | None = None,
    ) -> Manifest:
        manifest = await self.runner.run(close_unfinished, folder)
        if lost is not None:
            # Dropped frames no worker lived to record (it died at the end).
            _gaps(manifest, *lost)
        recovered = recovered or any(f.recovered for f in manifest.files)
        start = started_at or datetime.fromisoformat(manifest.started_at)
        if ended_at is not None:
            ended = ended_at
        else:
            # After a crash the end is where the last file ends.
            last = max((f.offset_ms + f.duration_ms for f in manifest.files), default=0)
            ended = datetime.fromtimestamp(start.timestamp() + last / 1000, UTC)
        total = round((ended - start).total_seconds() * 1000)
        markers = await asyncio.to_thread(self.archive.manifest_markers, folder.name, total)
        state = RecordingState.RECOVERED if recovered else RecordingState.COMPLETE
        manifest = await asyncio.to_thread(seal, folder, manifest, state, markers, ended)
        status = RecordingStatus.RECOVERED if recovered else RecordingStatus.COMPLETE
        await asyncio.to_thread(self.archive.close_recording, manifest, status)
        logger.info("session %s: recording sealed (%s)", manifest.session_id, state)
        for listener in self.sealed_listeners:
            try:
                listener(manifest)
            except Exception:
                logger.exception("session %s: sealed listener failed", manifest.session_id)
        return manifest


def _gaps(manifest: Manifest, t0: float, runs: list[DropRun]) -> None:
    for run in runs:
        manifest.add_gap(
            run.site,
            run.track_id,
            run.kind,
            round((run.first - t0) * 1000),
            round((run.last - t0) * 1000),
            run.frames,
            run.bytes,
        )


def _add_lost(folder: Path, t0: float, runs: list[DropRun]) -> None:
    """Write ``runs`` into ``folder``'s manifest as gaps (a part let go unsealed)."""
    manifest = read_manifest(folder)
    _gaps(manifest, t0, runs)
    write_manifest(folder, manifest)
