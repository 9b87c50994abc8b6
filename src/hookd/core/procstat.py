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


def stat_fields(line: str) -> list[str]:
    """The fields of one /proc/PID/stat line in order (field N at index N - 1); ValueError
    if it is not one.

    The command name (field 2) is in parentheses and may itself hold spaces and `)`, so
    the fields after it are found from its last `)`."""
    opened, closed = line.find("("), line.rfind(")")
    if opened < 1 or closed < opened:
        raise ValueError(f"not a /proc/PID/stat line: {line[:80]!r}")
    return [line[:opened].strip(), line[opened + 1 : closed], *line[closed + 2 :].split()]


def parse_stat(line: str) -> ProcStat:
    """The fields of one /proc/PID/stat line that hookd uses; ValueError if it is not one."""
    fields = stat_fields(line)
    if len(fields) < 22:
        raise ValueError(f"not a /proc/PID/stat line: {line[:80]!r}")
    # state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
    # cutime cstime priority nice num_threads itrealvalue starttime: fields 3 to 22.
    return ProcStat(
        pid=int(fields[0]),
        name=fields[1],
        state=fields[2],
        ppid=int(fields[3]),
        pgid=int(fields[4]),
        sid=int(fields[5]),
        started=int(fields[21]),
    )
