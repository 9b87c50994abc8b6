"""Reading Linux's /proc/PID/stat line (proc(5)): who a process is and where it stands."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of /proc/PID/stat that hookd uses. `started` is the start time in clock
    ticks after boot: with the pid, it names one process, not a later one that reuses it."""

    pid: int
    name: str
    state: str
    ppid: int
    pgid: int
    sid: int
    started: int


def parse_stat(line: str) -> ProcStat:
    """The fields of one /proc/PID/stat line; ValueError if it is not one.

    The command name (field 2) is in parentheses and may itself hold spaces and `)`, so
    the fields after it are found from its last `)`."""
    opened, closed = line.find("("), line.rfind(")")
    if opened < 1 or closed < opened:
        raise ValueError(f"not a /proc/PID/stat line: {line[:80]!r}")
    rest = line[closed + 2 :].split()
    if len(rest) < 20:
        raise ValueError(f"not a /proc/PID/stat line: {line[:80]!r}")
    # After the name: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime.
    return ProcStat(
        pid=int(line[:opened]),
        name=line[opened + 1 : closed],
        state=rest[0],
        ppid=int(rest[1]),
        pgid=int(rest[2]),
        sid=int(rest[3]),
        started=int(rest[19]),
    )
