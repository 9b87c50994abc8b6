"""Run a process with no shell: its own process group, output streamed as it comes.
When it ends (exits, times out, is cancelled) every process of the job's attempt still
running is ended too (TERM, then KILL after a grace; actions.containment), unless the hook
keeps them with `keep_background: true`, in which case a timeout or cancel ends its
process group only.

Everything happens on the event loop's thread: the spawn (vfork, well under a millisecond),
stdin and stdout through non-blocking descriptors the loop watches, the exit through a
pidfd (polled for where there is none: macOS). A thread per pipe would need the GIL back
from the busy loop at every chunk, and under load each handover can wait out the
interpreter's switch interval."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hookd.actions.base import Output
from hookd.actions.containment import OWNED, POLL_SECONDS, pidfd_available, proc_available
from hookd.actions.job_processes import JobProcesses
from hookd.core.delivery import Body

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
    stdin: Body,
    timeout: float | None,
    output: Output,
    stop: asyncio.Event,
    processes: JobProcesses,
) -> ProcessResult:
    """Run `argv` to its end, its timeout, or until `stop` is set, as one of `processes`.
    Raises OSError when it cannot start (no such program, bad cwd)."""
    child = Child.spawn(argv, env=processes.environment(env), cwd=cwd)
    processes.started(child.popen.pid)
    feeder = _Feeder(child.popen, stdin)
    reader = asyncio.create_task(_read(child, output))
    try:
        ended = await _wait(child, timeout, stop)
    except asyncio.CancelledError:
        feeder.close()
        await _end(child, processes, output, exited=False)
        raise
    feeder.close()  # whatever the child did not read, it never will
    await _end(child, processes, output, exited=ended == "exited")
    try:
        await asyncio.wait_for(asyncio.shield(reader), DRAIN_GRACE)
    except TimeoutError:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return ProcessResult(
        exit_code=child.popen.returncode,
        timed_out=ended == "timeout",
        stopped=ended == "stopped",
    )


class Child:
    """A child process spawned with `subprocess.Popen` (vfork: its cost does not grow with
    hookd's memory, unlike the event loop's fork-based spawn) whose exit the event loop
    learns from a pidfd, or where there is none by polling for it."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        OWNED.add(popen.pid)
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._pidfd = _pidfd(popen.pid)
        if self._pidfd is not None:
            self._loop.add_reader(self._pidfd, self._on_exit)
        else:
            self._loop.call_soon(self._poll)

    @classmethod
    def spawn(cls, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None) -> Child:
        popen = subprocess.Popen(
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
        assert self._pidfd is not None
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._exited.set_result(self.popen.wait())
        OWNED.discard(self.popen.pid)

    def _poll(self) -> None:
        code = self.popen.poll()
        if code is None:
            self._loop.call_later(POLL_SECONDS, self._poll)
            return
        self._exited.set_result(code)
        OWNED.discard(self.popen.pid)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


def _pidfd(pid: int) -> int | None:
    """A pidfd for `pid`, or None where the kernel has none (macOS, Linux before 5.3)."""
    if not pidfd_available():
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


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


class _Feeder:
    """Writes stdin whenever the pipe takes more, so a child that never reads it blocks
    nothing; closed once all is written, or when the child is done."""

    def __init__(self, popen: subprocess.Popen[bytes], data: Body) -> None:
        self._loop = asyncio.get_running_loop()
        self._pipe = popen.stdin
        self._data = memoryview(data)
        self._watching = False
        if self._pipe is not None:
            os.set_blocking(self._pipe.fileno(), False)
            self._write()

    def _write(self) -> None:
        assert self._pipe is not None
        try:
            while self._data:
                written = os.write(self._pipe.fileno(), self._data[: READ_SIZE * 4])
                self._data = self._data[written:]
        except BlockingIOError:
            if not self._watching:
                self._loop.add_writer(self._pipe.fileno(), self._write)
                self._watching = True
            return
        except OSError:  # the child closed its end (EPIPE): it wants no more
            pass
        self.close()

    def close(self) -> None:
        if self._pipe is None:
            return
        if self._watching:
            self._loop.remove_writer(self._pipe.fileno())
            self._watching = False
        with contextlib.suppress(OSError):
            self._pipe.close()
        self._pipe = None


async def _read(child: Child, output: Output) -> None:
    """Pass the child's output on as it comes, until the pipe's last writer (the child, or
    a background process it left) closes it. The pipe is read only when the last chunk has
    been handed on, so a child that writes faster than its log is stored waits for it."""
    pipe = child.popen.stdout
    if pipe is None:
        return
    descriptor = pipe.fileno()
    os.set_blocking(descriptor, False)
    try:
        while True:
            try:
                chunk = os.read(descriptor, READ_SIZE)
            except BlockingIOError:
                await _readable(descriptor)
                continue
            except OSError:
                return
            if not chunk:
                return
            await output(chunk)
    finally:
        pipe.close()


async def _readable(descriptor: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(descriptor, wake)
    try:
        await ready
    finally:
        loop.remove_reader(descriptor)


async def _end(child: Child, processes: JobProcesses, output: Output, *, exited: bool) -> None:
    """End what the attempt still runs: everything, or with keep_background the child's
    process group if the child did not exit by itself."""
    if processes.keep_background:
        if not exited:
            await _kill_group(child)
            await processes.end(output, spare=child.popen.pid)
        return
    await processes.end(output, spare=child.popen.pid)
    if not exited:  # with no /proc to read, the child's group is what can be ended
        await _kill_group(child)
    if not proc_available():
        await _end_group(child.popen.pid)


async def _kill_group(child: Child) -> None:
    """TERM the whole process group, then KILL it if it is still there after a grace."""
    pid = child.popen.pid
    _signal_group(pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(child.wait(), KILL_GRACE)
    _signal_group(pid, signal.SIGKILL)
    await child.wait()


async def _end_group(pgid: int) -> None:
    """End what is left of an exited child's process group, when no /proc shows more: TERM,
    then KILL after a grace. Safe from pid reuse while the group has a member: its id is
    not handed out to another process as long as the group exists (POSIX)."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
        if not _group_exists(pgid):
            return
        _signal_group(pgid, sig)
        deadline = time.monotonic() + grace
        while _group_exists(pgid) and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
