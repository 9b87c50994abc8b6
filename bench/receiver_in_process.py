"""hookd's receiver against the lean durable receiver, in process and without HTTP: the CPU
time of the whole process (store threads included) per request, each ASGI app called
directly with the ingest benchmark's signed push, 50 requests at a time as under `wrk -c50`
(`--batch`), on uvloop as `hookd serve` runs.

    python3 bench/receiver_in_process.py [--requests 3000] [--runs 5]

Under wrk the two servers differ by about 600 µs a request, of which HTTP is the same for
both; here the difference is what the apps themselves do, with less spread than under wrk
(runs still differ by up to 100 µs on this machine: compare medians of several). Three
contenders, each run in a process of its own and alternating, so that drift touches each
alike:

- hookd: `Receiver` with its SQLite store (timed, as `serve` wraps it), its log line to a
  file and its metrics, the heap settled as `serve` settles it;
- hookd with the lean store: the same receiver recording through the lean receiver's group
  commit (its two rows, on its thread) instead of hookd's store: what hookd's store costs;
- lean: `../shared/bench/durable_ref.py`'s app.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import DURABLE_REF_SECRET, lean_module
from scenarios import SECRET, hookd_config, push_body, push_headers
from unique_bodies import UniqueBodies

CONTENDERS = ("hookd", "hookd with the lean store", "lean")
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def scope(body: bytes, n: int, secret: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/hooks/github",
        "client": ("127.0.0.1", 50_000),
        "headers": [
            (name.encode(), value.encode()) for name, value in push_headers(body, n, secret)
        ],
    }


async def hookd_app(folder: Path, lean_store: bool) -> App:
    from hookd.config import load_config
    from hookd.config.live import LiveConfig
    from hookd.core.vocabulary import DeliveryStatus
    from hookd.deliverylog import configure_logging
    from hookd.heap import settle_heap
    from hookd.store import store_for
    from hookd.store.records import Recorded
    from hookd.web.receive import Receiver
    from hookd.web.timed_store import TimedStore

    config = load_config(hookd_config(folder, "'true'"))
    configure_logging()
    logging.getLogger("hookd").handlers[0].setStream(  # type: ignore[attr-defined]
        (folder / "hookd.log").open("w")
    )
    store = TimedStore(store_for(f"sqlite:///{folder / 'hookd.db'}"))
    await store.open()
    receiver = Receiver(LiveConfig(config), store)
    if lean_store:
        lean = lean_module(folder / "lean.db")

        class LeanStore:
            """Records as the lean receiver does: its row and its job row."""

            async def record_delivery(self, delivery: Any, **named: Any) -> Recorded:
                row = (
                    time.time(), delivery.endpoint, delivery.event, delivery.delivery_id,
                    delivery.repository, delivery.ref, str(delivery.headers), delivery.body,
                )  # fmt: skip
                number = await lean.writes.add(row)
                hooks = tuple(job.hook for job in named["jobs"])
                return Recorded(str(number), DeliveryStatus.ACCEPTED, job_ids=hooks, hooks=hooks)

        receiver.store = LeanStore()  # type: ignore[assignment]
    settle_heap()

    async def app(request: dict[str, Any], receive: Any, send: Any) -> None:
        await receiver(request, receive, send, config)

    return app


async def measure(contender: str, requests: int, batch: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="hookd-in-process-"))
    secret = DURABLE_REF_SECRET if contender == "lean" else SECRET
    if contender == "lean":
        app = lean_module(folder / "lean.db").app
    else:
        app = await hookd_app(folder, "lean" in contender)
    unique = UniqueBodies(push_body())
    bodies = [unique.next()[1] for _ in range(requests + 4 * batch)]
    answers: list[int] = []

    async def one(n: int) -> None:
        body = bodies[n]

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answers.append(message["status"])

        await app(scope(body, n, secret), receive, send)

    for start in range(0, 4 * batch, batch):  # warm-up
        await asyncio.gather(*(one(requests + start + n) for n in range(batch)))
    started = time.process_time()
    for start in range(0, requests, batch):
        await asyncio.gather(*(one(start + n) for n in range(batch)))
    cost = (time.process_time() - started) / requests * 1e6
    if set(answers) != {202}:
        raise SystemExit(f"{contender} answered {sorted(set(answers))}, not only 202")
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--batch", type=int, default=50, help="requests in flight together (1: one at a time)"
    )
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.contender:  # one measurement, in a process of its own
        print(uvloop.run(measure(options.contender, options.requests, options.batch)))
        return
    figures: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _ in range(options.runs):
        for name in CONTENDERS:
            argv = [sys.executable, __file__, "--contender", name]
            argv += ["--requests", str(options.requests), "--batch", str(options.batch)]
            figures[name].append(float(subprocess.check_output(argv, text=True)))
    print(
        f"## CPU µs per request, in process, {options.batch} at a time "
        f"(median of {options.runs} runs of {options.requests})"
    )
    for name, runs in figures.items():
        spread = " / ".join(f"{run:.0f}" for run in runs)
        print(f"{name:<28}{statistics.median(runs):>8.1f}   ({spread})")


if __name__ == "__main__":
    main()
