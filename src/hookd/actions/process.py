"""Run a process with no shell: its own process group, output streamed as it comes,
killed as a group (TERM, then KILL after a grace) on timeout or cancel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
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
    child = await Child.spawn(argv, env=env, cwd=cwd)
    threading.Thread(target=_feed, args=(child.popen, stdin), daemon=True).start()
    reader = asyncio.create_task(_read(child, output))
    try:
        ended = await _wait(child, timeout, stop)
    except asyncio.CancelledError:
        await _kill_group(child)
        raise
    if ended != "exited":
        await _kill_group(child)
    try:
        await asyncio.wait_for(asyncio.shield(reader), DRAIN_GRACE)
    except TimeoutError:
        reader.cancel()
    return ProcessResult(
        exit_code=child.popen.returncode,
        timed_out=ended == "timeout",
        stopped=ended == "stopped",
    )


class Child:
    """A child process spawned with `subprocess.Popen` (vfork: its cost does not grow with
    hookd's memory, unlike the event loop's fork-based spawn) whose exit the event loop
    learns from a pidfd."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._pidfd = os.pidfd_open(popen.pid)
        self._loop.add_reader(self._pidfd, self._on_exit)

    @classmethod
    async def spawn(cls, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None) -> Child:
        popen = await asyncio.to_thread(
            subprocess.Popen,
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one pipe keeps stdout and stderr in order
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
        return cls(popen)

    def _on_exit(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._exited.set_result(self.popen.wait())

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


async def _wait(child: Child, timeout: float | None, stop: asyncio.Event) -> str:
    exited = asyncio.create_task(child.wait())
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


def _feed(popen: subprocess.Popen[bytes], data: bytes) -> None:
    """Write stdin from a thread: a child that never reads it cannot block the loop, and
    the write ends when the child exits (EPIPE) or is killed."""
    stdin = popen.stdin
    if stdin is None:
        return
    with contextlib.suppress(OSError):
        stdin.write(data)
    with contextlib.suppress(OSError):
        stdin.close()


async def _read(child: Child, output: Output) -> None:
    """Pass the child's output on as it comes. A thread reads the pipe and owns its file
    object (the event loop's pipe transport would close the descriptor behind the file
    object's back, and its later close would hit a reused descriptor)."""
    pipe = child.popen.stdout
    if pipe is None:
        return
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def hand_over(chunk: bytes) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while the child ran on
            loop.call_soon_threadsafe(chunks.put_nowait, chunk)

    def pump() -> None:
        try:
            while chunk := os.read(pipe.fileno(), READ_SIZE):
                hand_over(chunk)
        except OSError:
            pass
        finally:
            pipe.close()
            hand_over(b"")

    threading.Thread(target=pump, name="hookd-job-output", daemon=True).start()
    while chunk := await chunks.get():
        await output(chunk)


async def _kill_group(child: Child) -> None:
    """TERM the whole process group, then KILL it if it is still there after a grace."""
    pid = child.popen.pid
    _signal_group(pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(child.wait(), KILL_GRACE)
    _signal_group(pid, signal.SIGKILL)
    await child.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
