"""The composed single file: every site's video side by side, audio mixed.

Offline and slow (it decodes and encodes, unlike the live path), so it runs as a
background job: Debian's ``ffmpeg`` in a child process, progress read from
``-progress pipe:1``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recorder.lifeline import exec_prefix

logger = logging.getLogger(__name__)

TILE_HEIGHT = 360
FPS = 20


@dataclass(frozen=True, slots=True)
class ComposeInput:
    """One recorded file placed on the session's time line."""

    path: Path
    """The file."""
    offset_ms: int
    """Its start relative to the recording's start."""
    duration_ms: int
    """Its duration."""
    has_video: bool
    """Whether it holds a video stream."""
    has_audio: bool
    """Whether it holds an audio stream."""


def compose_command(ffmpeg: str, inputs: list[ComposeInput], target: Path) -> list[str]:
    """The ffmpeg command line: tiles padded to the whole time line, audio delayed and mixed."""
    if not inputs:
        raise ValueError("nothing to compose")
    total_ms = max(i.offset_ms + i.duration_ms for i in inputs)
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for item in inputs:
        args += ["-i", str(item.path)]
    filters: list[str] = []
    videos: list[str] = []
    audios: list[str] = []
    for n, item in enumerate(inputs):
        lead = item.offset_ms / 1000
        tail = max(0.0, (total_ms - item.offset_ms - item.duration_ms) / 1000)
        if item.has_video:
            filters.append(
                f"[{n}:v]fps={FPS},scale=-2:{TILE_HEIGHT},setsar=1,format=yuv420p,"
                f"tpad=start_duration={lead:.3f}:stop_mode=clone:stop_duration={tail:.3f}[v{n}]"
            )
            videos.append(f"[v{n}]")
        if item.has_audio:
            delay = item.offset_ms
            whole = total_ms / 1000
            filters.append(
                f"[{n}:a]aresample=48000,adelay={delay}|{delay},apad=whole_dur={whole:.3f}[a{n}]"
            )
            audios.append(f"[a{n}]")
    maps: list[str] = []
    if len(videos) > 1:
        filters.append(f"{''.join(videos)}hstack=inputs={len(videos)}[vout]")
        maps += ["-map", "[vout]"]
    elif videos:
        maps += ["-map", videos[0]]
    if len(audios) > 1:
        filters.append(f"{''.join(audios)}amix=inputs={len(audios)}:normalize=0[aout]")
        maps += ["-map", "[aout]"]
    elif audios:
        maps += ["-map", audios[0]]
    args += ["-filter_complex", ";".join(filters), *maps]
    if videos:
        args += ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M"]
    if audios:
        args += ["-c:a", "libopus", "-b:a", "64k"]
    args += ["-t", f"{total_ms / 1000:.3f}", "-progress", "pipe:1", "-nostats", str(target)]
    return args


async def run_compose(
    ffmpeg: str,
    inputs: list[ComposeInput],
    target: Path,
    progress: Callable[[float], None],
) -> None:
    """Run the composition, reporting progress from 0.0 to 1.0; raise on failure."""
    total_us = max(i.offset_ms + i.duration_ms for i in inputs) * 1000
    process = await asyncio.create_subprocess_exec(
        # Killed by the kernel if the server dies (recorder/lifeline.py).
        *exec_prefix(),
        *compose_command(ffmpeg, inputs, target),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        async for raw in process.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit() and total_us:
                progress(min(1.0, int(value) / total_us))
        errors = (await process.stderr.read()).decode(errors="replace")
        code = await process.wait()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if code != 0:
        logger.error("compose into %s failed (%s): %s", target.name, code, errors[-2000:])
        raise RuntimeError(f"ffmpeg exited with {code}")
    progress(1.0)
