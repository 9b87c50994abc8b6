"""Two store reads a busy server must not let grow with what it holds: opening a large
delivery (the longest the event loop stalls meanwhile), and reading a large job log from an
offset near its end, as `hookd logs --follow` and the dashboard's live log do every 0.2 s.

    python bench/store_reads.py [DATABASE_URL]   (default: SQLite in a temp dir)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from hookd.core.delivery import Delivery
from hookd.store import store_for
from hookd.store.base import Store
from hookd.store.records import NewJob

BODY_BYTES = 20 * 1024 * 1024
LOG_BYTES = 10 * 1024 * 1024
LOG_CHUNK = 64 * 1024  # what a worker's LogBuffer flushes at most at once
TAIL = 4096
ROUNDS = 20


def delivery(body: bytes) -> Delivery:
    return Delivery(
        endpoint="github", forge="github", event="push", forge_event="push", action=None,
        delivery_id=str(time.time_ns()), content_type="application/json", headers=(),
        body=body, payload={},
    )  # fmt: skip


async def record(store: Store, body: bytes) -> tuple[str, str]:
    recorded = await store.record_delivery(
        delivery(body), received_at=datetime.now(UTC), remote_addr=None, trace=(),
        jobs=(NewJob("deploy", 1),),
    )  # fmt: skip
    return recorded.id, recorded.job_ids[0]


async def longest_stall(store: Store, delivery_id: str) -> float:
    """The longest gap between 1 ms ticks of the loop while the delivery is read."""
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    gaps.clear()
    detail = await store.get_delivery(delivery_id)
    await asyncio.sleep(0.01)
    ticker.cancel()
    assert len(detail.body) == BODY_BYTES
    return max(gaps)


async def loop_cpu(store: Store, delivery_id: str) -> float:
    """CPU seconds the loop's thread spends while the delivery is read: what stalls every
    other request, measured apart from what other processes on the machine take."""
    started = time.thread_time()
    await store.get_delivery(delivery_id)
    return time.thread_time() - started


async def tail_read(store: Store, job_id: str) -> float:
    """Seconds one read from TAIL bytes before the log's end takes, the median of ROUNDS."""
    spent = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        tail = await store.read_log(job_id, LOG_BYTES - TAIL)
        spent.append(time.perf_counter() - started)
        assert len(tail) == TAIL
    return statistics.median(spent)


async def main(url: str) -> None:
    store = store_for(url)
    await store.open()
    try:
        delivery_id, _ = await record(store, b"x" * BODY_BYTES)
        _, job_id = await record(store, b"{}")
        for _ in range(LOG_BYTES // LOG_CHUNK):
            await store.append_log(job_id, b"y" * LOG_CHUNK, LOG_BYTES)
        stalls = [await longest_stall(store, delivery_id) for _ in range(5)]
        cpu = [await loop_cpu(store, delivery_id) for _ in range(5)]
        print(f"get_delivery, {BODY_BYTES >> 20} MiB body: longest loop stall ", end="")
        print(f"{statistics.median(stalls) * 1000:.1f} ms, ", end="")
        print(f"loop thread's CPU {statistics.median(cpu) * 1000:.1f} ms (medians of 5)")
        print(f"read_log of a {LOG_BYTES >> 20} MiB log from {TAIL} bytes before its end: ", end="")
        print(f"{await tail_read(store, job_id) * 1000:.2f} ms (median of {ROUNDS})")
    finally:
        await store.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        default = f"sqlite:///{Path(scratch) / 'hookd.db'}"
        asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else default))
