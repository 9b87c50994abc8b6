"""A process caught in execve reads an empty environment for a moment (the kernel has
swapped its memory and not yet laid out the new one). One that left the attempt's session
and whose parent exited (a `setsid sleep`'s child) is then known by nothing else: the fence
looks again until its tag shows, and reads its command line again until it shows, for the
job's log. The race itself is the `setsid` case of test_containment.py (before, about one
run in thirty left the `sleep` running); here a /proc of files plays it out step by step."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hookd.actions import containment
from hookd.actions.containment import TAG_VARIABLE, Fence, Leader

pytestmark = pytest.mark.anyio

LEADER = Leader(pid=1000, started=500)
TAG = "attempt-1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    (root / "self").mkdir(parents=True)
    (root / "sys" / "kernel").mkdir(parents=True)
    (root / "sys" / "kernel" / "pid_max").write_text("32768\n")
    monkeypatch.setattr(containment, "PROC", str(root))
    monkeypatch.setattr(containment, "SETTLE_SECONDS", 0.001)
    return root


def process(root: Path, pid: int, *, ppid: int, sid: int, environment: bytes | None) -> Path:
    """A living process started after the leader; `environment` None: it cannot be read."""
    folder = root / str(pid)
    folder.mkdir()
    fields = f"R {ppid} {sid} {sid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {LEADER.started + 1}"
    (folder / "stat").write_text(f"{pid} (sleep) {fields}\n")
    (folder / "cmdline").write_bytes(b"")
    if environment is None:
        (folder / "environ").mkdir()  # reading it fails, as another user's would
    else:
        (folder / "environ").write_bytes(environment)
    return folder / "environ"


def fence() -> Fence:
    return Fence(tags=frozenset({TAG}), leaders=(LEADER,))


def counting_looks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    looks: list[int] = []
    look = Fence._look

    def counted(self: Fence) -> tuple[list[containment.ProcStat], bool]:
        looks.append(1)
        return look(self)

    monkeypatch.setattr(Fence, "_look", counted)
    return looks


async def test_a_process_caught_in_execve_is_found_once_its_environment_shows(
    proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = process(proc, 1001, ppid=1, sid=1001, environment=b"")
    looks = counting_looks(monkeypatch)

    async def exec_completes() -> None:
        while len(looks) < 3:
            await asyncio.sleep(0)
        environ.write_bytes(f"PATH=/bin\0{TAG_VARIABLE}={TAG}\0".encode())

    finishing = asyncio.create_task(exec_completes())
    members = await fence().members()
    await finishing
    assert [entry.pid for entry in members] == [1001]
    assert len(looks) >= 3


async def test_an_environment_that_stays_empty_is_given_up_after_a_bounded_wait(
    proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process(proc, 1001, ppid=1, sid=1001, environment=b"")
    looks = counting_looks(monkeypatch)
    assert await fence().members() == []
    assert len(looks) == containment.SETTLE_LOOKS


@pytest.mark.parametrize(
    ("ppid", "environment"),
    [
        (containment.KTHREADD, b""),  # a kernel thread: never an environment
        (1, None),  # another user's process: not readable
        (1, b"PATH=/bin\0HOOKD_JOB_TAG=another-attempt\0"),  # a stranger, told at once
    ],
)
async def test_what_cannot_be_in_execve_is_decided_at_the_first_look(
    proc: Path, monkeypatch: pytest.MonkeyPatch, ppid: int, environment: bytes | None
) -> None:
    process(proc, 1001, ppid=ppid, sid=1001, environment=environment)
    looks = counting_looks(monkeypatch)
    assert await fence().members() == []
    assert len(looks) == 1


async def test_a_process_of_the_attempts_session_needs_no_environment(
    proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process(proc, 1001, ppid=1, sid=LEADER.pid, environment=b"")
    looks = counting_looks(monkeypatch)
    assert [entry.pid for entry in await fence().members()] == [1001]
    assert len(looks) == 1


async def test_a_command_line_caught_in_execve_is_read_again_for_the_log(proc: Path) -> None:
    process(proc, 1001, ppid=1, sid=1001, environment=b"")
    entry = containment.read_stat(1001)
    assert entry is not None

    async def exec_completes() -> None:
        await asyncio.sleep(containment.SETTLE_SECONDS * 3)
        (proc / "1001" / "cmdline").write_bytes(b"sleep\x00300\x00")

    finishing = asyncio.create_task(exec_completes())
    ended = await containment._ended(entry)
    await finishing
    assert ended == containment.Ended(1001, "sleep 300")


async def test_a_command_line_that_never_shows_gives_the_process_name(proc: Path) -> None:
    process(proc, 1001, ppid=1, sid=1001, environment=b"")
    entry = containment.read_stat(1001)
    assert entry is not None
    assert await containment._ended(entry) == containment.Ended(1001, "sleep")
