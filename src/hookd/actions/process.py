"""Run a process with no shell: its own process group, output streamed as it comes,
killed as a group (TERM, then KILL after a grace) on timeout or cancel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hookd.actions.base import Output

KILL_GRACE = 5.0
READ_SIZE = 65536
# After the process exits, its background children may hold the output pipe open.
DRAIN_GRACE = 1.0


@dataclass(frozen=True, slots=True)
class ProcessResult:
    exit_code: int | None
    timed_out: bool = False
    stopped: bool = False


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None,
    stdin: bytes,
    timeout: float | None,
    output: Output,
    stop: asyncio.Event,
) -> ProcessResult:
    """Run `argv` to its end, its timeout, or until `stop` is set. Raises OSError when it
    cannot start (no such program, bad cwd)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,  # one pipe keeps stdout and stderr in order
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )
    feeder = asyncio.create_task(_feed(process, stdin))
    reader = asyncio.create_task(_read(process, output))
    try:
        ended = await _wait(process, timeout, stop)
    except asyncio.CancelledError:
        await _kill_group(process)
        raise
    finally:
        feeder.cancel()
    if ended != "exited":
        await _kill_group(process)
    try:
        await asyncio.wait_for(asyncio.shield(reader), DRAIN_GRACE)
    except TimeoutError:
        reader.cancel()
    return ProcessResult(
        exit_code=process.returncode,
        timed_out=ended == "timeout",
        stopped=ended == "stopped",
    )


async def _wait(
    process: asyncio.subprocess.Process, timeout: float | None, stop: asyncio.Event
) -> str:
    exited = asyncio.create_task(process.wait())
    stopped = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait(
            {exited, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopped.cancel()
    if exited in done:
        return "exited"
    exited.cancel()
    return "stopped" if stopped in done else "timeout"


async def _feed(process: asyncio.subprocess.Process, data: bytes) -> None:
    stdin = process.stdin
    if stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.close()


async def _read(process: asyncio.subprocess.Process, output: Output) -> None:
    stream = process.stdout
    if stream is None:
        return
    while chunk := await stream.read(READ_SIZE):
        await output(chunk)


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """TERM the whole process group, then KILL it if it is still there after a grace."""
    _signal_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), KILL_GRACE)
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
