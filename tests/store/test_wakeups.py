"""Idle workers are woken one per claimable job, oldest first; a wake-up nobody waits for
is kept (up to a limit) for the next worker to wait."""

from __future__ import annotations

import asyncio
import time

import pytest

from hookd.store.wakeups import KEPT, Wakeups

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_one_job_wakes_one_waiting_worker_the_oldest() -> None:
    wakeups = Wakeups()
    waiting = [asyncio.create_task(wakeups.wait(5)) for _ in range(3)]
    await asyncio.sleep(0.01)
    wakeups.give(1)
    await asyncio.sleep(0.01)
    assert [task.done() for task in waiting] == [True, False, False]
    wakeups.give(2)
    await asyncio.wait_for(asyncio.gather(*waiting), 1)


async def test_a_wake_up_nobody_waits_for_is_kept_for_the_next_wait() -> None:
    wakeups = Wakeups()
    wakeups.give(2)
    started = time.monotonic()
    await wakeups.wait(5)
    await wakeups.wait(5)
    assert time.monotonic() - started < 1
    await wakeups.wait(0.05)  # none left: this one times out
    assert time.monotonic() - started >= 0.05


async def test_kept_wake_ups_are_capped() -> None:
    wakeups = Wakeups()
    wakeups.give(KEPT + 100)
    for _ in range(KEPT):
        await asyncio.wait_for(wakeups.wait(5), 1)
    started = time.monotonic()
    await wakeups.wait(0.05)
    assert time.monotonic() - started >= 0.05


async def test_a_worker_that_stopped_waiting_does_not_take_a_wake_up() -> None:
    wakeups = Wakeups()
    await wakeups.wait(0.01)  # timed out, still in the queue until passed over
    given_up = asyncio.create_task(wakeups.wait(5))
    await asyncio.sleep(0.01)
    given_up.cancel()
    waiting = asyncio.create_task(wakeups.wait(5))
    await asyncio.sleep(0.01)
    wakeups.give(1)
    await asyncio.wait_for(waiting, 1)
