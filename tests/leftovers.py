"""What a test's job left running: processes found by a marker in their command line,
read straight from the machine's /proc (not through hookd's own code, which some tests
replace to run without it)."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterable
from pathlib import Path

from hookd.core.procstat import parse_stat


def marker() -> str:
    """A `sleep` duration no other process on the machine has in its command line."""
    return f"300.{uuid.uuid4().int % 10**9:09d}"


def living(text: str) -> list[int]:
    """Pids of processes (zombies aside) whose command line holds `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                stat = parse_stat((entry / "stat").read_text(errors="replace"))
                if stat.state != "Z":
                    found.append(stat.pid)
        except (OSError, ValueError):
            continue
    return found


def kill_living(markers: Iterable[str]) -> None:
    """SIGKILL every process holding one of `markers`: a test's clean-up, whatever happened."""
    for text in markers:
        for pid in living(text):
            os.kill(pid, signal.SIGKILL)
