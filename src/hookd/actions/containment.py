"""Nothing outlives its job: finding every process an attempt of a job started, and ending
them when it ends.

A job's processes are found in /proc (Linux) by what they carry from the attempt: the
HOOKD_JOB_TAG value hookd puts in the environment of each process it starts (a `cmd &`,
a `setsid` daemon and a double-forked one all inherit it), the session of each process
hookd started (for a child that cleared its environment), and descendance from either.
Only processes started after the attempt's first one count, and every one is signalled
through a pidfd opened after its start time was checked, so a pid reused by another
process is never hit. hookd is a child subreaper (worker.pool), so orphans come back to it
and it reaps them here.

Where there is no /proc (macOS) none of this can be found: a job's process group is what
is ended (actions.process), and the job's log says so once. Where there is no pidfd (macOS,
Linux before 5.3) a process is signalled after its start time was checked again and its
exit is polled for.

A cgroup per job would find processes that clear their environment *and* leave the
session; hookd does not rely on one because few hosts delegate a cgroup v2 subtree to it
(this one mounts the v1 hierarchies with v2 beside them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from hookd.core.procstat import ProcStat, parse_stat

TAG_VARIABLE = "HOOKD_JOB_TAG"
KILL_GRACE = 5.0
KILL_ROUNDS = 5
ROUND_WAIT = 1.0
# Pids are handed out in increasing order up to pid_max, then again from the bottom. An
# attempt's processes have pids after its first process's, up to the newest pid, unless
# so many processes were started meanwhile that pids came round again: assumed impossible
# for an attempt shorter than pid_max / FORKS_PER_SECOND seconds, after which /proc is
# read whole.
FORKS_PER_SECOND = 5000
CMDLINE_SHOWN = 200
# Up to this many pids handed out since an attempt began, each is looked up in /proc
# rather than listing /proc whole.
PROBED = 256
# Where the processes are listed; a module setting so a test can take it away.
PROC = "/proc"
POLL_SECONDS = 0.05
# A process caught in execve reads an empty environment for a moment, while the kernel
# swaps its memory: it is looked at again this often, this many times, before it counts as
# a stranger's.
SETTLE_SECONDS = 0.005
SETTLE_LOOKS = 20
# Kernel threads are kthreadd's children (pid 2); their environment is always empty.
KTHREADD = 2


def proc_available() -> bool:
    """Whether processes can be found and read in /proc (Linux)."""
    return os.path.isdir(f"{PROC}/self")


def pidfd_available() -> bool:
    """Whether the kernel can hand out pidfds (Linux 5.3 and later)."""
    return hasattr(os, "pidfd_open")


def machine_id() -> str:
    """This boot of this machine: pids and start times mean something only within it."""
    try:
        with open(f"{PROC}/sys/kernel/random/boot_id", encoding="ascii") as file:
            return file.read().strip()
    except OSError:
        return socket.gethostname()


def read_stat(pid: int) -> ProcStat | None:
    try:
        descriptor = os.open(f"{PROC}/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        return parse_stat(os.read(descriptor, 4096).decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(descriptor)


def _read(path: str, limit: int = 1 << 20) -> bytes:
    """Up to `limit` bytes of a /proc file ("" if it cannot be read)."""
    try:
        return _read_or_fail(path, limit)
    except OSError:
        return b""


def _read_or_fail(path: str, limit: int = 1 << 20) -> bytes:
    """Up to `limit` bytes of a /proc file, without Python's buffered file objects, which
    cost more than the read; OSError if it cannot be read."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        chunks, size = [], 0
        while size < limit and (chunk := os.read(descriptor, min(limit - size, 65536))):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir(PROC) if name.isdigit()]
    except OSError:
        return []


def _newest_pid() -> int | None:
    fields = _read(f"{PROC}/loadavg").split()
    return int(fields[-1]) if fields and fields[-1].isdigit() else None


@cache
def _pid_max() -> int:
    text = _read(f"{PROC}/sys/kernel/pid_max").strip()
    return int(text) if text.isdigit() else 32768


def command_line(pid: int) -> str:
    """What the process runs, for the job's log ("" once it is gone)."""
    words = _read(f"{PROC}/{pid}/cmdline", CMDLINE_SHOWN * 2).rstrip(b"\0").split(b"\0")
    # One line in the log, whatever the words hold (a `python -c` script has newlines).
    text = " ".join(" ".join(word.decode("utf-8", "replace").split()) for word in words)
    return text if len(text) <= CMDLINE_SHOWN else text[: CMDLINE_SHOWN - 3] + "..."


# Popen's children, reaped by their Child; never waited for here, or Popen would lose the
# exit status.
OWNED: set[int] = set()


def _orphan_exited(entry: ProcStat) -> bool:
    """Whether `entry` is an exited process that came back to hookd from a job: hookd's
    zombie child, not one of the job processes Popen waits for, and not in hookd's own
    session (where a `python:` handler's subprocess, which its caller waits for, is)."""
    return (
        entry.state == "Z"
        and entry.ppid == os.getpid()
        and entry.pid not in OWNED
        and entry.sid != os.getsid(0)
    )


@dataclass(frozen=True, slots=True)
class Leader:
    """A process hookd started itself for an attempt (its session has the same id)."""

    pid: int
    started: int


@dataclass(frozen=True)
class Fence:
    """What tells an attempt's processes from every other: its tags (environment entries
    `HOOKD_JOB_TAG=...`), its leaders, and with `whole` False only the leaders count.
    `opened_at` (monotonic seconds at the first leader's start, None if unknown) lets a
    short attempt look only at the pids handed out since its first process."""

    tags: frozenset[str]
    leaders: tuple[Leader, ...]
    whole: bool = True
    opened_at: float | None = None

    async def members(self) -> list[ProcStat]:
        """The fence's processes that are alive now (not zombies), hookd excepted.

        A process that left the attempt's session and whose parent has exited is known by
        its tag alone; caught in execve (a `setsid sleep`'s child, say), its environment
        reads empty, as a stranger's may: it is looked at again after SETTLE_SECONDS, up to
        SETTLE_LOOKS times, until none is left in doubt."""
        for _ in range(SETTLE_LOOKS):
            found, in_doubt = self._look()
            if not in_doubt:
                break
            await asyncio.sleep(SETTLE_SECONDS)
        return found

    def _look(self) -> tuple[list[ProcStat], bool]:
        """The fence's living processes, and whether a process that may be one read an
        empty environment."""
        if not self.leaders:
            return [], False
        table = self._candidates()
        leaders = {(leader.pid, leader.started) for leader in self.leaders}
        if not self.whole:
            return [entry for entry in table if (entry.pid, entry.started) in leaders], False
        sessions = _sessions(self.leaders, table)
        found: set[int] = set()
        unread: set[int] = set()
        for entry in table:
            if (entry.pid, entry.started) in leaders or _in_session(entry, sessions):
                found.add(entry.pid)
                continue
            tagged = self._tagged(entry)
            if tagged:
                found.add(entry.pid)
            elif tagged is None:
                unread.add(entry.pid)
        while more := {e.pid for e in table if e.ppid in found and e.pid not in found}:
            found |= more
        return [entry for entry in table if entry.pid in found], bool(unread - found)

    def _candidates(self) -> list[ProcStat]:
        """The living processes started since the first leader; on the way, hookd's orphans
        among them that have exited (a daemon's intermediate parent) are reaped."""
        since = min(leader.started for leader in self.leaders)
        own = os.getpid()
        table = [entry for pid in self._pids() if (entry := read_stat(pid)) is not None]
        for entry in table:
            if _orphan_exited(entry):
                _wait_for(entry.pid)
        return [
            entry
            for entry in table
            if entry.started >= since and entry.pid != own and entry.state not in ("Z", "X")
        ]

    def _pids(self) -> Iterable[int]:
        newest = _newest_pid()
        limit = _pid_max() / FORKS_PER_SECOND
        if self.opened_at is None or newest is None or time.monotonic() - self.opened_at > limit:
            return _pids()
        first = self.leaders[0].pid
        if 0 <= newest - first <= PROBED:
            return range(first, newest + 1)
        if first <= newest:
            return [pid for pid in _pids() if first <= pid <= newest]
        return [pid for pid in _pids() if pid >= first or pid <= newest]

    def _tagged(self, entry: ProcStat) -> bool | None:
        """Whether the process carries one of the fence's tags; None when its environment
        read empty and it is no kernel thread (it may be in execve: look again). Another
        user's process, whose environment hookd may not read, carries none."""
        if not self.tags:
            return False
        try:
            environment = _read_or_fail(f"{PROC}/{entry.pid}/environ")
        except OSError:
            return False
        if not environment:
            return None if entry.ppid != KTHREADD and entry.pid != KTHREADD else False
        environment = b"\0" + environment
        return any(f"\0{TAG_VARIABLE}={tag}\0".encode() in environment for tag in self.tags)


def _sessions(leaders: Iterable[Leader], table: list[ProcStat]) -> dict[int, tuple[int, float]]:
    """Each leader's session id, with the start times its members can have: from the
    leader's, up to that of a later process that took the leader's pid (and may lead a
    session of the same id) if there is one."""
    reused = {entry.pid: entry.started for entry in table}
    sessions: dict[int, tuple[int, float]] = {}
    for leader in leaders:
        taken = reused.get(leader.pid, leader.started)
        sessions[leader.pid] = (leader.started, float("inf") if taken == leader.started else taken)
    return sessions


def _in_session(entry: ProcStat, sessions: dict[int, tuple[int, float]]) -> bool:
    span = sessions.get(entry.sid)
    return span is not None and span[0] <= entry.started < span[1]


@dataclass(frozen=True, slots=True)
class Ended:
    pid: int
    command: str


async def end_fence(fence: Fence) -> list[Ended]:
    """TERM every process of the fence, KILL those left after KILL_GRACE, and again until
    none is left (a process may start others meanwhile); reap the ones that were hookd's
    orphans. Returns what was ended, in pid order."""
    members = await fence.members()
    if not members:
        return []
    ended = {entry.pid: await _ended(entry) for entry in members}
    await _signal_and_wait(members, signal.SIGTERM, KILL_GRACE)
    for _ in range(KILL_ROUNDS):
        members = await fence.members()
        if not members:
            break
        for entry in members:
            if entry.pid not in ended:
                ended[entry.pid] = await _ended(entry)
        await _signal_and_wait(members, signal.SIGKILL, ROUND_WAIT)
    return sorted(ended.values(), key=lambda item: item.pid)


async def _ended(entry: ProcStat) -> Ended:
    """What the log names a process to be ended by: its command line, read again while it
    reads empty and the process lives (caught in execve, as for its environment); its
    name from /proc/PID/stat if it never shows."""
    for _ in range(SETTLE_LOOKS):
        command = command_line(entry.pid)
        if command or not _alive(entry):
            break
        await asyncio.sleep(SETTLE_SECONDS)
    return Ended(entry.pid, command or entry.name)


async def _signal_and_wait(members: list[ProcStat], sig: signal.Signals, wait: float) -> None:
    """Send `sig` to each member still the same process, wait up to `wait` seconds for
    them all to exit, and reap those that are hookd's own orphans."""
    if not pidfd_available():
        await _signal_and_poll(members, sig, wait)
        return
    loop = asyncio.get_running_loop()
    pidfds: dict[int, int] = {}
    exits: list[asyncio.Future[None]] = []
    try:
        for entry in members:
            pidfd = _pidfd_of(entry)
            if pidfd is None:
                continue
            pidfds[entry.pid] = pidfd
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, sig)
            exited: asyncio.Future[None] = loop.create_future()
            loop.add_reader(pidfd, _settle, exited)
            exits.append(exited)
        if exits:
            await asyncio.wait(exits, timeout=wait)
    finally:
        for pid, pidfd in pidfds.items():
            loop.remove_reader(pidfd)
            if pid not in OWNED:
                _reap(pidfd)
            os.close(pidfd)


async def _signal_and_poll(members: list[ProcStat], sig: signal.Signals, wait: float) -> None:
    """`_signal_and_wait` without pidfds: each member is signalled right after its start
    time was read again (a pid reused in between is the one risk left), and /proc is read
    every POLL_SECONDS until they are gone."""
    deadline = time.monotonic() + wait
    signalled = [entry for entry in members if _same(entry) and _kill(entry.pid, sig)]
    while signalled and time.monotonic() < deadline:
        for entry in signalled:
            if entry.pid not in OWNED:
                _wait_for(entry.pid)
        signalled = [entry for entry in signalled if _alive(entry)]
        if signalled:
            await asyncio.sleep(POLL_SECONDS)


def _same(entry: ProcStat) -> bool:
    again = read_stat(entry.pid)
    return again is not None and again.started == entry.started


def _alive(entry: ProcStat) -> bool:
    again = read_stat(entry.pid)
    return again is not None and again.started == entry.started and again.state not in ("Z", "X")


def _kill(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _pidfd_of(entry: ProcStat) -> int | None:
    """A pidfd for `entry`'s process, if it is still the process `entry` read."""
    try:
        pidfd = os.pidfd_open(entry.pid)
    except OSError:
        return None
    again = read_stat(entry.pid)
    if again is None or again.started != entry.started:
        os.close(pidfd)
        return None
    return pidfd


def _reap(pidfd: int) -> None:
    """Wait for the process behind `pidfd` if it is hookd's child and has exited."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)


def _wait_for(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    return False


def reap_orphans() -> int:
    """Wait for every exited child of hookd that no Popen owns: processes that outlived
    their parents came back to hookd (the subreaper) and ended since. Returns how many."""
    reaped = 0
    for pid in _pids():
        entry = read_stat(pid)
        if entry is not None and _orphan_exited(entry):
            reaped += _wait_for(pid)
    return reaped
