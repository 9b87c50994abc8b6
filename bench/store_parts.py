"""What recording a delivery costs hookd's SQLite store, in process, against the lean durable
receiver's group commit, and what each part of hookd's record adds: the CPU time of the
whole process (writer, sync and checkpoint threads included) per delivery, 50 deliveries
at a time as under `wrk -c50`, median of five runs of 4,000.

    python3 bench/store_parts.py [--deliveries 4000] [--runs 5]

Each variant leaves one part out of an otherwise whole record: the job row, the
checkpoints, the row naming the configuration, or seven of the list indexes (dropped from
the file before the run). A variant is a measurement only: hookd never runs without them.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import lean_module
from scenarios import push_body, push_headers

from hookd.core.delivery import Delivery
from hookd.store import checkpoints, store_for
from hookd.store.records import NewJob

BATCH = 50
TRACE = [{"hook": "deploy", "matched": True, "reason": "on.push.branches: 'main' matches 'main'"}]
LIST_INDEXES = (
    "deliveries_endpoint",
    "deliveries_event",
    "deliveries_status",
    "deliveries_repository",
    "deliveries_received",
    "jobs_hook",
    "jobs_hook_delivery",
)


def deliveries(count: int) -> list[Delivery]:
    body = push_body()
    return [
        Delivery(
            endpoint="github",
            forge="github",
            event="push",
            forge_event="push",
            action=None,
            delivery_id=str(uuid.uuid4()),
            content_type="application/json",
            headers=tuple(push_headers(body + str(n).encode(), n)),
            body=body + str(n).encode(),
            payload={"ref": "refs/heads/main", "repository": {"full_name": "octo/site"}},
        )
        for n in range(count)
    ]


async def cpu_per_delivery(record: Callable[[int], Awaitable[object]], count: int) -> float:
    """Process CPU µs per delivery of `record`, BATCH at a time, after a warm-up."""
    for start in range(0, 4 * BATCH, BATCH):
        await asyncio.gather(*(record(count + n) for n in range(start, start + BATCH)))
    started = time.process_time()
    for start in range(0, count, BATCH):
        await asyncio.gather(*(record(n) for n in range(start, start + BATCH)))
    return (time.process_time() - started) / count * 1e6


async def hookd_record(made: list[Delivery], count: int, leave_out: str | None) -> float:
    database = Path(tempfile.mkdtemp(prefix="hookd-store-parts-")) / "hookd.db"
    url = f"sqlite:///{database}"
    if leave_out == "list indexes":
        created = store_for(url)
        await created.open()
        await created.close()
        with sqlite3.connect(database) as connection:
            for index in LIST_INDEXES:
                connection.execute(f"DROP INDEX {index}")
    jobs = () if leave_out == "job row" else (NewJob("deploy", 1),)
    config = None if leave_out == "config row" else "3f2a9c1"
    store = store_for(url)
    await store.open()
    request = checkpoints.Checkpoints.request
    if leave_out == "checkpoints":
        checkpoints.Checkpoints.request = lambda _self, _mode: None  # type: ignore[method-assign]
    try:

        async def record(n: int) -> object:
            return await store.record_delivery(
                made[n], received_at=datetime.now(UTC), remote_addr="127.0.0.1",
                trace=TRACE, jobs=jobs, config=config,
            )  # fmt: skip

        return await cpu_per_delivery(record, count)
    finally:
        checkpoints.Checkpoints.request = request  # type: ignore[method-assign]
        await store.close()


async def lean_record(made: list[Delivery], count: int) -> float:
    """The lean durable receiver's group commit (its own module, on a file of its own)."""
    durable_ref = lean_module(Path(tempfile.mkdtemp(prefix="lean-store-parts-")) / "ref.db")

    async def record(n: int) -> object:
        delivery = made[n]
        row = (
            time.time(), "github", "push", delivery.delivery_id, "octo/site", "refs/heads/main",
            str(delivery.headers).encode(), delivery.body,
        )  # fmt: skip
        return await durable_ref.writes.add(row)

    try:
        return await cpu_per_delivery(record, count)
    finally:
        durable_ref.db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    count = options.deliveries
    made = deliveries(count + 4 * BATCH)
    variants: dict[str, Callable[[], Awaitable[float]]] = {
        "hookd, whole record": lambda: hookd_record(made, count, None),
        "  without the job row": lambda: hookd_record(made, count, "job row"),
        "  without checkpoints": lambda: hookd_record(made, count, "checkpoints"),
        "  without the config row": lambda: hookd_record(made, count, "config row"),
        "  without 7 list indexes": lambda: hookd_record(made, count, "list indexes"),
        "lean durable receiver": lambda: lean_record(made, count),
    }
    figures: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(options.runs):  # the variants alternate, so drift touches each alike
        for name, measure in variants.items():
            figures[name].append(asyncio.run(measure()))
    print(f"## recording a delivery, process CPU µs (median of {options.runs} runs of {count})")
    for name, runs in figures.items():
        spread = " / ".join(f"{run:.0f}" for run in runs)
        print(f"{name:<28}{statistics.median(runs):>8.1f}   ({spread})")


if __name__ == "__main__":
    main()
