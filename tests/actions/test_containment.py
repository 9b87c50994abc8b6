"""Nothing outlives its job: what a job's process leaves running (`cmd &`, `setsid`, a
double-forked daemon, a child that clears its environment) is ended when the process ends
or times out and named in the log; `keep_background` leaves it; and what an earlier
attempt left when its hookd died is ended before the next, never a stranger's process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from hookd.actions.containment import TAG_VARIABLE, read_stat
from hookd.actions.job_processes import MACHINE, JobProcesses, end_earlier_attempts
from hookd.actions.process import ProcessResult, run_process
from hookd.store.records import JobProcess
from leftovers import kill_living, living, marker

pytestmark = pytest.mark.anyio

DAEMON = """\
import os, sys
if os.fork():
    sys.exit(0)
os.setsid()
if os.fork():
    os._exit(0)
devnull = os.open(os.devnull, os.O_RDWR)
for descriptor in (0, 1, 2):
    os.dup2(devnull, descriptor)
os.execvp("sleep", ["sleep", sys.argv[1]])
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Markers whose processes the test kills at the end, whatever happened."""
    markers: list[str] = []
    yield markers
    kill_living(markers)


async def run(
    argv: list[str], *, timeout: float | None = 30, keep_background: bool = False
) -> tuple[ProcessResult, str]:
    output = bytearray()

    async def collect(chunk: bytes) -> None:
        output.extend(chunk)

    result = await run_process(
        argv,
        env=dict(os.environ),
        cwd=None,
        stdin=b"",
        timeout=timeout,
        output=collect,
        stop=asyncio.Event(),
        processes=JobProcesses("job-1", 1, keep_background=keep_background),
    )
    return result, output.decode()


def left_behind(kind: str, text: str) -> list[str]:
    if kind == "background":
        return ["sh", "-c", f"sleep {text} & echo started"]
    if kind == "setsid":
        return ["setsid", "sleep", text]
    if kind == "daemon":
        return [sys.executable, "-c", DAEMON, text]
    # A child that clears its environment but stays in the job's session.
    return ["sh", "-c", f"env -i sleep {text} & echo started"]


def named(output: str) -> bool:
    """Whether the log names, on a line of its own, a process it ended. (Its command line
    may be the one it had before it exec'd `sleep`, when that was caught first.)"""
    pattern = r"^\[hookd: ended pid \d+ \([^\n]+\), left running by the job\]$"
    return re.search(pattern, output, re.M) is not None


KINDS = ["background", "setsid", "daemon", "no-environment"]


@pytest.mark.parametrize("kind", KINDS)
async def test_what_a_job_leaves_running_is_ended_when_it_exits(
    kind: str, cleanup: list[str]
) -> None:
    text = marker()
    cleanup.append(text)
    result, output = await run(left_behind(kind, text))
    assert result.exit_code == 0
    assert living(text) == []
    assert named(output)


@pytest.mark.parametrize("kind", KINDS)
async def test_what_a_job_leaves_running_is_ended_when_it_times_out(
    kind: str, cleanup: list[str]
) -> None:
    text = marker()
    cleanup.append(text)
    argv = ["sh", "-c", '"$@"; sleep 60', "sh", *left_behind(kind, text)]
    result, output = await run(argv, timeout=1)
    assert result.timed_out
    assert living(text) == []
    assert named(output)


@pytest.mark.parametrize("kind", ["background", "setsid", "daemon"])
async def test_keep_background_leaves_them_running(kind: str, cleanup: list[str]) -> None:
    text = marker()
    cleanup.append(text)
    result, output = await run(left_behind(kind, text), keep_background=True)
    assert result.exit_code == 0
    assert len(living(text)) == 1
    assert "[hookd: ended" not in output


def tagged(text: str, tag: str) -> subprocess.Popen[bytes]:
    """A process as an attempt whose hookd was killed left it: tagged, its own session."""
    return subprocess.Popen(
        ["sh", "-c", f"sleep {text} & sleep {text}"],
        env={**os.environ, TAG_VARIABLE: tag},
        start_new_session=True,
    )


def recorded(process: subprocess.Popen[bytes], tag: str, attempt: int = 1) -> JobProcess:
    stat = read_stat(process.pid)
    assert stat is not None
    return JobProcess(attempt, MACHINE, tag, process.pid, stat.started)


async def test_an_earlier_attempts_processes_are_ended_before_the_next(
    cleanup: list[str],
) -> None:
    text, tag = marker(), f"job-1.1.{uuid.uuid4().hex}"
    cleanup.append(text)
    earlier = tagged(text, tag)
    await asyncio.sleep(0.3)  # the shell has started its background sleep
    lines = bytearray()

    async def collect(chunk: bytes) -> None:
        lines.extend(chunk)

    ended = await end_earlier_attempts([recorded(earlier, tag)], collect, keep_background=False)
    earlier.wait(5)  # reaped already (the test is its parent, as hookd would be its reaper)
    assert living(text) == []
    assert len(ended) == 3
    assert lines.decode().count("left by attempt 1]\n") == 3


async def test_a_reused_pid_and_another_machine_are_left_alone(cleanup: list[str]) -> None:
    text, tag = marker(), f"job-1.1.{uuid.uuid4().hex}"
    cleanup.append(text)
    stranger = tagged(text, "another-job.1.x")
    await asyncio.sleep(0.3)
    lines = bytearray()

    async def collect(chunk: bytes) -> None:
        lines.extend(chunk)

    process = recorded(stranger, tag)
    reused = JobProcess(1, MACHINE, tag, process.pid, process.started - 1)
    elsewhere = JobProcess(1, "another-boot", tag, process.pid, process.started)
    try:
        ended = await end_earlier_attempts([reused, elsewhere], collect, keep_background=False)
        assert ended == []
        assert len(living(text)) == 3  # the shell and its two sleeps
    finally:
        os.killpg(stranger.pid, signal.SIGKILL)
        stranger.wait(5)
    assert lines.decode() == (
        "[hookd: attempt 1 ran on another machine or before this one restarted; "
        "its processes cannot be checked from here]\n"
    )
