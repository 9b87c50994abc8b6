"""The processes of one attempt of a job: tagged when started, recorded in the store, and
ended when the attempt ends, or before the job's next attempt if hookd died first.

`keep_background: true` leaves what the job started in the background running: then
hookd ends only the processes it started itself (on a timeout or cancel, with their
process group), and after a crash only those."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hookd.actions.containment import (
    TAG_VARIABLE,
    Ended,
    Fence,
    Leader,
    end_fence,
    machine_id,
    proc_available,
    read_stat,
)
from hookd.errors import StoreError
from hookd.store.records import JobProcess

log = logging.getLogger("hookd.worker")

Record = Callable[[JobProcess], Awaitable[None]]
Output = Callable[[bytes], Awaitable[None]]

MACHINE = machine_id()
NO_PROC_NOTE = (
    b"[hookd: no /proc on this system: what the job leaves running is ended only if it is "
    b"still in the job's process group, and is not named here]\n"
)


@dataclass
class JobProcesses:
    """One attempt's processes. `record` stores each process hookd starts (None: not
    kept, as in tests of single actions)."""

    job_id: str
    attempt: int
    keep_background: bool = False
    record: Record | None = None
    tag: str = field(default_factory=lambda: secrets.token_hex(8))
    leaders: list[Leader] = field(default_factory=list)
    opened_at: float | None = None
    _said_no_proc: bool = False
    _recording: set[asyncio.Task[None]] = field(default_factory=set)

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """`env` with the attempt's tag, which every process it starts inherits."""
        return {**env, TAG_VARIABLE: f"{self.job_id}.{self.attempt}.{self.tag}"}

    def started(self, pid: int) -> None:
        """hookd started `pid` for this attempt: remember it, and record it in the store."""
        stat = read_stat(pid)
        if stat is None:  # gone already, or no /proc: its process group is all there is
            return
        if self.opened_at is None:
            self.opened_at = time.monotonic()
        self.leaders.append(Leader(pid, stat.started))
        if self.record is not None:
            tag = f"{self.job_id}.{self.attempt}.{self.tag}"
            process = JobProcess(self.attempt, MACHINE, tag, pid, stat.started)
            task = asyncio.create_task(self._store(process))
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)

    async def _store(self, process: JobProcess) -> None:
        assert self.record is not None
        try:
            await self.record(process)
        except StoreError as exc:
            log.error("could not record process %d of job %s: %s", process.pid, self.job_id, exc)

    def fence(self, *, whole: bool) -> Fence:
        tag = f"{self.job_id}.{self.attempt}.{self.tag}"
        return Fence(frozenset({tag}), tuple(self.leaders), whole, self.opened_at)

    async def end(self, output: Output, *, spare: int | None = None) -> list[Ended]:
        """End what the attempt still runs (only its own leaders with keep_background),
        and name in the job's log each process but `spare` (the one whose end the job's
        result already tells)."""
        if not self.keep_background and not self._said_no_proc and not proc_available():
            self._said_no_proc = True
            await output(NO_PROC_NOTE)
        ended = await end_fence(self.fence(whole=not self.keep_background))
        for process in ended:
            if process.pid != spare:
                await output(_line(process, "left running by the job"))
        if self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)
        return ended


def _line(process: Ended, why: str) -> bytes:
    command = process.command or "?"
    return f"[hookd: ended pid {process.pid} ({command}), {why}]\n".encode()


async def end_earlier_attempts(
    recorded: Sequence[JobProcess], output: Output, *, keep_background: bool
) -> list[Ended]:
    """End what earlier attempts of a job left running when their hookd died, before the
    next attempt starts, naming each in the job's log. Processes recorded on another
    machine (or before this one restarted) cannot be reached from here: the log says so."""
    here = [process for process in recorded if process.machine == MACHINE]
    if len(here) < len(recorded):
        elsewhere = sorted({p.attempt for p in recorded if p.machine != MACHINE})
        await output(
            f"[hookd: attempt {', '.join(map(str, elsewhere))} ran on another machine or "
            "before this one restarted; its processes cannot be checked from here]\n".encode()
        )
    if not here:
        return []
    fence = Fence(
        tags=frozenset(process.tag for process in here),
        leaders=tuple(Leader(process.pid, process.started) for process in here),
        whole=not keep_background,
    )
    ended = await end_fence(fence)
    attempts = ", ".join(sorted({str(process.attempt) for process in here}))
    for process in ended:
        await output(_line(process, f"left by attempt {attempts}"))
    return ended
