"""What each part of a delivery costs hookd, in process: the CPU time of each step the
receiver takes for the ingest benchmark's signed push, one after another on this thread,
and of the store's record (its writer and sync threads included), in batches as under load.

    python3 bench/delivery_parts.py [--deliveries 4000]

Not the HTTP server's share: `bench/run.py --only ingest` gives hookd's whole CPU per
delivery, and the difference is uvicorn's, the event loop's and the kernel's."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import hookd_config, push_body, push_headers
from unique_bodies import UniqueBodies

from hookd.config import Config, load_config
from hookd.core.delivery import Delivery, Headers, Rejection
from hookd.core.forges import begin_delivery
from hookd.deliverylog import configure_logging, log_delivery
from hookd.intake import plan
from hookd.store import store_for
from hookd.store.records import ReplayGuard
from hookd.web.metrics import count_delivery


def settle_heap() -> None:
    """hookd.heap's, where the tree measured has it (the figures before it went in did not)."""
    try:
        from hookd.heap import settle_heap as settle
    except ImportError:
        return
    settle()


def headers(body: bytes, n: int) -> Headers:
    return Headers(push_headers(body, n))


def verified(config: Config, body: bytes, request: Headers) -> Delivery:
    reception = begin_delivery(config.specs["github"], request, time.time())
    assert not isinstance(reception, Rejection), reception
    reception.update(body)
    delivery = reception.finish(body)
    assert isinstance(delivery, Delivery), delivery
    return delivery


def cpu_per_call(step: Callable[[int], Any], count: int) -> float:
    """The median over five runs of the CPU time of one call of `step`, in µs."""
    runs = []
    for run in range(5):
        started = time.process_time()
        for n in range(count):
            step(run * count + n)
        runs.append((time.process_time() - started) / count * 1e6)
    return sorted(runs)[2]


async def record_cost(config: Config, deliveries: list[Delivery], folder: Path) -> float:
    """CPU per delivery of `record_delivery`, 50 at a time (wrk -c50), threads included."""
    store = store_for(f"sqlite:///{folder / 'parts.db'}")
    await store.open()
    try:
        decided = [plan(config, d) for d in deliveries]

        async def record(index: int) -> None:
            delivery, planned = deliveries[index], decided[index]
            guard = ReplayGuard(hashlib.sha256(delivery.body).digest(), timedelta(hours=72))
            await store.record_delivery(
                delivery, received_at=datetime.now(UTC), remote_addr="127.0.0.1",
                trace=planned.trace, jobs=planned.jobs, guard=guard, config=config.version,
            )  # fmt: skip

        started = time.process_time()
        for start in range(0, len(deliveries), 50):
            await asyncio.gather(*(record(i) for i in range(start, start + 50)))
        return (time.process_time() - started) / len(deliveries) * 1e6
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=4000)
    count = parser.parse_args().deliveries
    folder = Path(tempfile.mkdtemp(prefix="hookd-parts-"))
    config = load_config(hookd_config(folder, "'true'"))
    log_file = folder / "hookd.log"
    configure_logging()  # as `hookd serve` does, to a file as its stderr would be
    with log_file.open("w") as stream:
        logging.getLogger("hookd").handlers[0].setStream(stream)  # type: ignore[attr-defined]
        print_parts(config, bodies_and_deliveries(config, count), count, folder)


Made = tuple[list[bytes], list[Headers], list[Delivery]]


def bodies_and_deliveries(config: Config, count: int) -> Made:
    """Bodies and their signed headers for five runs, and one run's deliveries."""
    bodies = UniqueBodies(push_body())
    body_list = [bodies.next()[1] for _ in range(count * 5)]
    header_list = [headers(body, n) for n, body in enumerate(body_list)]
    return (
        body_list,
        header_list,
        [verified(config, body_list[n], header_list[n]) for n in range(count)],
    )


def print_parts(config: Config, made: Made, count: int, folder: Path) -> None:
    body_list, header_list, deliveries = made
    settle_heap()  # as `hookd serve` does once started
    parts = {
        "verify + parse (HMAC, orjson, facts)": lambda n: verified(
            config, body_list[n], header_list[n]
        ),
        "replay digest (sha256 of the body)": lambda n: hashlib.sha256(body_list[n]).digest(),
        "plan (match hooks, trace, jobs)": lambda n: plan(config, deliveries[n % count]),
        "log line": lambda n: log_delivery(
            endpoint="github",
            event="push",
            delivery=str(n),
            id="01JABCDEFGHJKMNPQRSTVWXYZ0",
            outcome="queued",
            status=202,
            hooks=("deploy",),
            duration_ms=1.25,
        ),
        "metrics": lambda n: count_delivery("github", "push", 202, "queued"),
    }
    print(f"## the parts of a delivery, CPU µs each (median of 5 runs of {count})")
    total = 0.0
    for name, step in parts.items():
        cost = cpu_per_call(step, count)
        total += cost
        print(f"{name:<44}{cost:>8.1f}")
    stored = asyncio.run(record_cost(config, deliveries, folder))
    total += stored
    print(f"{'record (SQL, commit, sync; 50 at a time)':<44}{stored:>8.1f}")
    print(f"{'total of the parts':<44}{total:>8.1f}")


if __name__ == "__main__":
    main()
