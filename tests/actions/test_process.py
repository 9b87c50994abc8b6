"""Running a job's process on the event loop: stdin fed without blocking, output in order,
children that ignore their stdin or leave their output pipe open, and no descriptor left
behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
import time

import pytest

from conftest import LoopTicks
from hookd.actions.job_processes import JobProcesses
from hookd.actions.process import DRAIN_GRACE, ProcessResult, run_process

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[{}, {"use_uvloop": True}], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    return "asyncio", request.param


async def run(
    code: str, stdin: bytes = b"", timeout: float | None = 30, *, keep_background: bool = False
) -> tuple[ProcessResult, bytes]:
    output = bytearray()

    async def collect(chunk: bytes) -> None:
        output.extend(chunk)

    result = await run_process(
        [sys.executable, "-c", code],
        env=dict(os.environ),
        cwd=None,
        stdin=stdin,
        timeout=timeout,
        output=collect,
        stop=asyncio.Event(),
        processes=JobProcesses("job", 1, keep_background=keep_background),
    )
    return result, bytes(output)


async def test_a_large_stdin_reaches_the_child_whole() -> None:
    data = os.urandom(3 * 1024 * 1024)
    code = "import sys, hashlib; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
    result, output = await run(code, data)
    assert result.exit_code == 0
    assert output.decode().strip() == hashlib.sha256(data).hexdigest()


async def test_a_child_that_never_reads_its_stdin_still_ends() -> None:
    result, output = await run("print('done')", os.urandom(4 * 1024 * 1024))
    assert result.exit_code == 0
    assert output == b"done\n"


async def test_the_loop_runs_while_the_child_ignores_a_large_stdin() -> None:
    async with LoopTicks() as ticks:
        result, _ = await run("import time; time.sleep(0.5)", os.urandom(4 * 1024 * 1024))
    assert result.exit_code == 0
    assert ticks.count > 20


async def test_stdout_and_stderr_arrive_in_the_order_written() -> None:
    code = (
        "import sys\n"
        "for n in range(200):\n"
        "    (sys.stdout if n % 2 else sys.stderr).write(f'{n}\\n')\n"
        "    (sys.stdout if n % 2 else sys.stderr).flush()\n"
    )
    result, output = await run(code)
    assert result.exit_code == 0
    assert output.decode().split() == [str(n) for n in range(200)]


BACKGROUND = (
    "import subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
    "print('parent done', child.pid, flush=True)\n"
)


async def test_a_background_child_is_ended_with_its_job_and_named_in_the_log() -> None:
    result, output = await run(BACKGROUND)
    assert result.exit_code == 0
    first, ended = output.decode().splitlines()
    pid = int(first.split()[-1])
    assert first == f"parent done {pid}"
    assert ended == (
        f"[hookd: ended pid {pid} ({sys.executable} -c import time; time.sleep(30)), "
        "left running by the job]"
    )
    assert not os.path.exists(f"/proc/{pid}") or _zombie(pid)


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "Z"


async def test_output_held_open_by_a_kept_background_child_ends_after_the_grace() -> None:
    started = time.monotonic()
    result, output = await run(BACKGROUND, keep_background=True)
    pid = int(output.decode().split()[-1])
    try:
        assert result.exit_code == 0
        assert output == f"parent done {pid}\n".encode()
        assert time.monotonic() - started < DRAIN_GRACE + 5
        assert os.path.exists(f"/proc/{pid}") and not _zombie(pid)
    finally:
        os.kill(pid, signal.SIGKILL)


async def test_a_program_that_does_not_exist_raises_oserror() -> None:
    with pytest.raises(OSError):
        await run_process(
            ["/nonexistent/program"],
            env={},
            cwd=None,
            stdin=b"",
            timeout=5,
            output=lambda chunk: asyncio.sleep(0),
            stop=asyncio.Event(),
            processes=JobProcesses("job", 1),
        )


async def test_no_descriptor_is_left_open_after_many_runs() -> None:
    await run("pass", b"x")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(30):
        await run("import sys; sys.stdout.write(sys.stdin.read())", b"payload")
    assert len(os.listdir("/proc/self/fd")) <= before
