"""The benchmark scenarios. Each runs hookd and its references in the same run,
alternating, and returns per-round figures; `run.py` takes medians and ratios."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from harness import (
    DURABLE_REF_SECRET,
    RssSampler,
    Server,
    checkpointed_bytes,
    disk_bytes,
    durable_ref,
    free_port,
    hookd,
    percentile,
    reference,
    rss_kib,
    run_wrk,
    workdir,
)
from unique_bodies import UniqueBodies

from hookd.samples import load_sample

SECRET = "bench-secret"
TARGET_BODY = 7_600


def push_body() -> bytes:
    """A compact signed-push body of about 7.6 KB, as GitHub sends them."""
    payload = json.loads(load_sample("github", "push"))
    body = json.dumps(payload, separators=(",", ":")).encode()
    while len(body) > TARGET_BODY and len(payload["commits"]) > 1:
        payload["commits"].pop()
        body = json.dumps(payload, separators=(",", ":")).encode()
    return body


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_headers(body: bytes, n: int, secret: str = SECRET) -> list[tuple[str, str]]:
    """The headers GitHub sends with the push `body`, its delivery id made from `n`, signed
    with `secret`: what the in-process benchmarks hand the receiver."""
    return [
        ("host", "127.0.0.1:8080"),
        ("user-agent", "GitHub-Hookshot/044aadd"),
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("x-github-event", "push"),
        ("x-github-delivery", f"0d3c8a3e-{n:08d}-11ef-8a9e-0242ac120002"),
        ("x-github-hook-id", "292430182"),
        ("x-hub-signature-256", signature(body, secret)),
    ]


def hookd_config(folder: Path, hook: str) -> Path:
    config = folder / "hookd.yaml"
    config.write_text(
        "server:\n  database: sqlite:///hookd.db\n"
        # Replay protection on (its default): every body the benchmark sends is its own.
        f"endpoints:\n  github:\n    forge: github\n    secret: {SECRET}\n"
        f"hooks:\n  deploy:\n    on: {{push: {{branches: [main]}}}}\n    run: {hook}\n"
    )
    return config


def wrk_script(folder: Path, body: bytes, secret: str = SECRET) -> Path:
    """wrk posts bodies built on `body`, each its own (see unique_bodies.py) and signed with
    `secret`, with a fresh X-GitHub-Delivery per request. Each script has its own file and
    run id, so scripts for wrk runs at the same time or one after another never share a
    body or an id."""
    return UniqueBodies(body).wrk_script(folder, secret)


INGEST_RECEIVERS = ("hookd", "lean_durable", "starlette", "raw_asgi", "bottle")
DATABASES = {"hookd": "hookd.db", "lean_durable": "durable_ref.db"}
# hookd answers a replayed body 200 `duplicate` (2xx to wrk) and stores no accepted row:
# accepted rows as many as answered show there was none.
STORED = {
    "hookd": "SELECT count(*) FROM deliveries WHERE status = 'accepted'",
    "lean_durable": "SELECT count(*) FROM deliveries",
}


def start_receiver(name: str, folder: Path, port: int) -> contextlib.AbstractContextManager[Server]:
    """One of INGEST_RECEIVERS on `port`, its files (and database, if it keeps one) in
    `folder`. hookd: receive only, one matching hook, synchronous=FULL, one log line per
    delivery; lean_durable: ../shared/bench/durable_ref.py; the others store nothing."""
    if name == "hookd":
        return hookd(hookd_config(folder, "'true'"), port, "--workers", "0")
    if name == "lean_durable":
        return durable_ref(port, folder / DATABASES[name], folder)
    return reference(name.removesuffix("_asgi"), port, SECRET, folder)


def secret_of(name: str) -> str:
    return DURABLE_REF_SECRET if name == "lean_durable" else SECRET


def load(
    server: Server,
    name: str,
    body: bytes,
    folder: Path,
    seconds: int,
    measuring: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """wrk -t2 -c50 for a 2 s warm-up, then (`measuring` called first) for `seconds`:
    the measured run's figures, and `answered`, the requests of both. A script per run:
    each run's delivery ids are new, so none is a duplicate."""
    url = f"{server.url}/hooks/github"
    warm_up = run_wrk(url, wrk_script(folder, body, secret_of(name)), seconds=2)
    if measuring:
        measuring()
    result = run_wrk(url, wrk_script(folder, body, secret_of(name)), seconds=seconds)
    return {**asdict(result), "answered": warm_up.requests + result.requests}


def ingest(seconds: int) -> dict[str, dict[str, Any]]:
    """One round: hookd, the lean durable receiver and the three references, one after
    another, under wrk -t2 -c50; for the two that store, the bytes on disk per delivery."""
    folder = workdir()
    body = push_body()
    results: dict[str, dict[str, Any]] = {}
    for name in INGEST_RECEIVERS:
        # The kernel writing back the previous receiver's database would slow this one's syncs.
        os.sync()
        with (
            start_receiver(name, folder, free_port()) as server,
            RssSampler(server.process.pid) as sampler,
        ):
            figures = load(server, name, body, folder, seconds)
            figures["peak_rss_mb"] = sampler.peak / 1024
            if name in DATABASES:
                figures["stored"] = _count(folder / DATABASES[name], STORED[name])
                figures["disk_bytes"] = disk_bytes(folder / DATABASES[name])
            if name == "hookd":
                figures["log_lines"] = _count_lines(server.log, "delivery endpoint=")
        if name in DATABASES:
            figures["disk_bytes_checkpointed"] = checkpointed_bytes(folder / DATABASES[name])
            figures["bytes_per_delivery"] = figures["disk_bytes"] / figures["stored"]
            figures["bytes_per_delivery_checkpointed"] = (
                figures["disk_bytes_checkpointed"] / figures["stored"]
            )
        results[name] = figures
    results["hookd"]["body_bytes"] = UniqueBodies(body).size()
    return results


def _count(database: Path, query: str) -> int:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return int(connection.execute(query).fetchone()[0])


def _count_lines(log: Path, marker: str) -> int:
    return sum(1 for line in log.read_text(errors="replace").splitlines() if marker in line)


class _Connection:
    """One keep-alive HTTP/1.1 connection that POSTs and reads the status: far lighter on
    the shared CPU than a general client, so the rate is hookd's load, not the client's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(self, request: bytes) -> int:
        self.writer.write(request)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


def _request(port: int, bodies: UniqueBodies) -> bytes:
    """The next of `bodies`, signed, its `bench_seq` as its delivery id."""
    seq, body = bodies.next()
    head = (
        f"POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nX-GitHub-Event: push\r\n"
        f"X-Hub-Signature-256: {signature(body)}\r\n"
        f"X-GitHub-Delivery: {seq}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _send_at_rate(port: int, bodies: UniqueBodies, rate: int, seconds: int) -> int:
    """Send `rate` deliveries a second for `seconds`, each on a free keep-alive connection
    (a new one when all are busy); return how many were not answered 202."""
    idle: list[_Connection] = []
    failed = 0

    async def send() -> None:
        nonlocal failed
        request = _request(port, bodies)
        # A reused connection the server just closed as idle fails before any answer (a
        # race of every HTTP/1.1 client): send once more on a new one; the delivery id
        # makes it safe.
        for reused in (bool(idle), False):
            connection = idle.pop() if reused else await _Connection.open("127.0.0.1", port)
            try:
                status = await connection.post(request)
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                connection.writer.close()
                if reused:
                    continue
                failed += 1
                return
            failed += status != 202
            idle.append(connection)
            return

    tasks = []
    gc.disable()  # a collection pausing the client would bunch deliveries into a burst
    start = time.perf_counter()
    for index in range(rate * seconds):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send()))
    await asyncio.gather(*tasks)
    gc.enable()
    for connection in idle:
        connection.writer.close()
    return failed


def end_to_end(rate: int, seconds: int, workers: int = 2) -> dict[str, Any]:
    """Deliveries at a fixed rate with a `run: true` hook: how long from the delivery's
    arrival to its job's start and finish."""
    folder = workdir()
    config = hookd_config(folder, "'true'")
    port = free_port()
    with (
        hookd(config, port, "--workers", str(workers)) as server,
        RssSampler(server.process.pid) as rss,
    ):
        failed = asyncio.run(_send_at_rate(port, UniqueBodies(push_body()), rate, seconds))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _unfinished(folder / "hookd.db"):
            time.sleep(0.2)
        peak = rss.peak
    starts, finishes = _latencies(folder / "hookd.db")
    return {
        "rate": rate, "workers": workers, "deliveries": len(starts), "non_202": failed,
        "start_p50_ms": percentile(starts, 0.5), "start_p99_ms": percentile(starts, 0.99),
        "finish_p50_ms": percentile(finishes, 0.5), "finish_p99_ms": percentile(finishes, 0.99),
        "peak_rss_mb": peak / 1024,
    }  # fmt: skip


def backlog(sizes: tuple[int, ...] = (200, 5000), workers: int = 2) -> list[dict[str, Any]]:
    """A burst queued while no worker runs (an outage, an organisation's mass push), then
    drained by `workers`: jobs a second for a small and a large backlog in the same run, so
    that a claim whose cost grows with the queue shows as a ratio."""
    bodies = UniqueBodies(push_body())
    results = []
    for size in sizes:
        folder = workdir()
        config = hookd_config(folder, "'true'")
        port = free_port()
        with hookd(config, port, "--workers", "0"):
            failed = asyncio.run(_send_all(port, bodies, size))
        database = folder / "hookd.db"
        with hookd(config, free_port(), "--workers", str(workers)):
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and _unfinished(database):
                time.sleep(0.1)
        with sqlite3.connect(database) as connection:
            first, last, done = connection.execute(
                "SELECT min(started_at), max(finished_at), count(*) FROM jobs "
                "WHERE status = 'succeeded'"
            ).fetchone()
        moment = datetime.fromisoformat
        seconds = moment(last).timestamp() - moment(first).timestamp()
        results.append(
            {
                "queued": size,
                "workers": workers,
                "non_202": failed,
                "succeeded": done,
                "seconds": seconds,
                "jobs_per_second": done / seconds,
            }
        )
    return results


async def _send_all(port: int, bodies: UniqueBodies, count: int, connections: int = 20) -> int:
    """Send `count` deliveries as fast as hookd takes them, over `connections` keep-alive
    connections; return how many were not answered 202."""
    remaining = iter(range(count))
    failed = 0

    async def sender() -> None:
        nonlocal failed
        connection = await _Connection.open("127.0.0.1", port)
        try:
            for _ in remaining:
                failed += await connection.post(_request(port, bodies)) != 202
        finally:
            connection.writer.close()

    await asyncio.gather(*(sender() for _ in range(connections)))
    return failed


def _unfinished(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(
            connection.execute(
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchone()[0]
        )


def _latencies(database: Path) -> tuple[list[float], list[float]]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT d.received_at, j.started_at, j.finished_at FROM jobs j "
            "JOIN deliveries d ON d.id = j.delivery_id WHERE j.status = 'succeeded'"
        ).fetchall()

    def ms(later: str, earlier: str) -> float:
        moment = datetime.fromisoformat
        return (moment(later).timestamp() - moment(earlier).timestamp()) * 1000

    return [ms(s, r) for r, s, _ in rows], [ms(f, r) for r, _, f in rows]


def large_body(megabytes: int = 25) -> dict[str, dict[str, Any]]:
    """One delivery just under the 25 MB cap: time to 202 and peak RSS growth, for hookd
    (and for hookd with a worker, until the delivery's job has run) and for the plain
    Starlette app that holds the body the same way."""
    folder = workdir()
    filler = "x" * (megabytes * 1024 * 1024 - 4096)
    body = json.dumps({"ref": "refs/heads/main", "filler": filler}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": signature(body),
    }
    results: dict[str, dict[str, Any]] = {}
    for name in ("hookd", "hookd + job", "starlette"):
        port = free_port()
        own = folder / name.replace(" + ", "-")  # each server its own database
        own.mkdir()
        workers = "1" if name == "hookd + job" else "0"
        start = (
            reference("starlette", port, SECRET, own)
            if name == "starlette"
            else hookd(hookd_config(own, "'true'"), port, "--workers", workers)
        )
        with start as server:
            before = rss_kib(server.process.pid, "VmHWM")
            began = time.perf_counter()
            answer = httpx.post(
                f"{server.url}/hooks/github",
                content=body,
                headers={**headers, "X-GitHub-Delivery": str(uuid.uuid4())},
                timeout=60,
            )
            elapsed = time.perf_counter() - began
            while name == "hookd + job" and _unfinished(own / "hookd.db"):
                time.sleep(0.05)
            after = rss_kib(server.process.pid, "VmHWM")
        results[name] = {
            "status": answer.status_code,
            "seconds_to_answer": elapsed,
            "peak_rss_growth_mb": (after - before) / 1024,
            "body_mb": len(body) / 1024 / 1024,
        }
    return results
