"""Jobs where Linux's process calls are missing (macOS; Linux before 5.3 has no pidfd):
forced here on Linux by taking `os.pidfd_open` away and pointing the containment's /proc
elsewhere. A job still exits, times out and is cancelled with the right result; without
/proc what is left in its process group is ended and the log says once what is not seen;
without pidfds alone, everything it leaves is still found and ended."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookd.actions import containment
from hookd.actions.job_processes import NO_PROC_NOTE, JobProcesses
from hookd.actions.process import KILL_GRACE, ProcessResult, run_process
from leftovers import kill_living, living, marker

pytestmark = pytest.mark.anyio
DEADLINE = KILL_GRACE + 20


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def no_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "pidfd_open")
    assert not containment.pidfd_available()


@pytest.fixture
def no_proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_pidfd: None) -> None:
    monkeypatch.setattr(containment, "PROC", str(tmp_path / "no-proc"))
    assert not containment.proc_available()


def gone(text: str) -> bool:
    deadline = time.monotonic() + DEADLINE
    while living(text):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    markers: list[str] = []
    yield markers
    kill_living(markers)


async def run(
    argv: list[str], *, timeout: float | None = 30, stop_after: float | None = None
) -> tuple[ProcessResult, str]:
    output = bytearray()
    stop = asyncio.Event()

    async def collect(chunk: bytes) -> None:
        output.extend(chunk)

    if stop_after is not None:
        asyncio.get_running_loop().call_later(stop_after, stop.set)
    result = await run_process(
        argv, env=dict(os.environ), cwd=None, stdin=b"", timeout=timeout, output=collect,
        stop=stop, processes=JobProcesses("job-1", 1),
    )  # fmt: skip
    return result, output.decode()


async def test_exit_codes_and_signals_come_through_without_a_pidfd(no_proc: None) -> None:
    result, output = await run([sys.executable, "-c", "print('hi'); raise SystemExit(3)"])
    assert result == ProcessResult(exit_code=3)
    assert output.startswith("hi\n")
    killed, _ = await run([sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"])
    assert killed.exit_code == -signal.SIGKILL


async def test_a_timeout_ends_the_job_and_its_group(no_proc: None, cleanup: list[str]) -> None:
    text = marker()
    cleanup.append(text)
    started = time.monotonic()
    result, output = await run(["sh", "-c", f"sleep {text} & sleep {text}"], timeout=0.5)
    assert result.timed_out and result.exit_code == -signal.SIGTERM
    assert time.monotonic() - started < DEADLINE
    assert gone(text)
    assert output.count(NO_PROC_NOTE.decode()) == 1


async def test_a_cancel_ends_the_job(no_proc: None, cleanup: list[str]) -> None:
    text = marker()
    cleanup.append(text)
    result, _ = await run(["sleep", text], stop_after=0.5)
    assert result.stopped and not result.timed_out
    assert result.exit_code == -signal.SIGTERM
    assert gone(text)


async def test_what_stays_in_the_group_is_ended_after_the_job_exits(
    no_proc: None, cleanup: list[str]
) -> None:
    text = marker()
    cleanup.append(text)
    result, output = await run(["sh", "-c", f"sleep {text} & echo started"])
    assert result == ProcessResult(exit_code=0)
    assert output == "started\n" + NO_PROC_NOTE.decode()
    assert gone(text)


async def test_without_pidfds_what_leaves_the_group_is_still_found_and_named(
    no_pidfd: None, cleanup: list[str]
) -> None:
    text = marker()
    cleanup.append(text)
    result, output = await run(["sh", "-c", f"setsid sleep {text} & echo started"])
    assert result == ProcessResult(exit_code=0)
    assert gone(text)
    # Its command line may be the one it had before it exec'd `sleep`, when caught first.
    pattern = rf"^\[hookd: ended pid \d+ \([^\n]*{text}[^\n]*\), left running by the job\]$"
    assert re.search(pattern, output, re.M), output
    assert NO_PROC_NOTE.decode() not in output
