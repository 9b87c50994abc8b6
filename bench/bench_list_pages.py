"""How fast `/api/deliveries` answers with 1,000,000 deliveries in SQLite.

Builds a SQLite file with hookd's own schema (the store's migrations), fills it straight
through SQL with small deliveries spread over 30 days (three endpoints, six events, 200
repositories, a job for each matched hook), prints the query plans of the list's SQL, then
starts a real `hookd serve` on it and times pages over HTTP on loopback: the median of
several runs for each, as a table, with the JSON in bench/results/.

    python3 bench/bench_list_pages.py [--rows 1000000] [--runs 21] [--keep DIR]

The target (issue 4 / issue 8): the first page and a filtered page in under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness  # noqa: F401 - first: the hookd measured is this checkout's
import httpx

from hookd.store import sqlite_sql
from hookd.store.records import DeliveryQuery, iso
from hookd.store.sqlite import SqliteStore

RESULTS = Path(__file__).resolve().parent / "results"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENDPOINTS = ("github", "gitlab", "ci")
EVENTS = ("push", "pull_request", "issues", "release", "star", "workflow_run")
REPOSITORIES = tuple(f"acme/repo-{n}" for n in range(200))
SPAN = timedelta(days=30)
CONFIG = """
server:
  host: 127.0.0.1
  port: 0
  database: sqlite:///{db}
endpoints:
  github: {{forge: github, secret: bench}}
  gitlab: {{forge: gitlab, secret: bench}}
  ci: {{forge: generic, secret: bench, event_header: X-Event}}
hooks:
  deploy: {{endpoint: github, on: push, run: "true"}}
"""


PAIRS = [a + b for a in ALPHABET for b in ALPHABET]


def ulid(millis: int, randomness: int) -> str:
    """hookd's id layout (store/ids.py): 48 bits of milliseconds, 80 random bits, written
    two Crockford base32 digits (10 bits) at a time."""
    value = (millis << 80) | randomness
    return "".join(PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10))


def rows(count: int, start: datetime) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...] | None]]:
    """(delivery row, job row or None), oldest first, ids in time order."""
    generator = random.Random(4)
    step = SPAN / count
    body = b'{"ref":"refs/heads/main","zen":"Keep it logically awesome."}'
    naive = start.replace(tzinfo=None)
    for n in range(count):
        moment = naive + step * n
        millis = int((start + step * n).timestamp() * 1000)
        delivery_id = ulid(millis, generator.getrandbits(80))
        endpoint = ENDPOINTS[n % 3]
        event = EVENTS[generator.randrange(len(EVENTS))]
        status = "rejected" if n % 50 == 0 else "accepted"
        hooks = (
            '["deploy"]'
            if endpoint == "github" and event == "push" and status == "accepted"
            else "[]"
        )
        at = moment.isoformat(timespec="microseconds") + "Z"  # as store.records.iso writes
        delivery = (
            delivery_id, f"{n:032x}" if status == "accepted" else None, endpoint, "github",
            event if status == "accepted" else None, event, None,
            REPOSITORIES[generator.randrange(len(REPOSITORIES))] if status == "accepted" else None,
            at, status, "bad signature" if status == "rejected" else None, len(body),
            "application/json", "[]", body if status == "accepted" else None, hooks, "[]",
        )  # fmt: skip
        job = None
        if hooks != "[]":
            job = (ulid(millis, generator.getrandbits(80)), delivery_id, "deploy", at, at, at, at)
        yield delivery, job


def fill(path: Path, count: int) -> float:
    """Create the schema with the store's migrations, then insert `count` deliveries."""

    async def migrate() -> None:
        store = SqliteStore(f"sqlite:///{path}")
        await store.open()
        await store.close()

    asyncio.run(migrate())
    started = time.perf_counter()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")
    # Building the secondary indexes once after the load is much faster than keeping them
    # up to date row by row; they are re-created from the migrations' own definitions.
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    connection.execute("BEGIN")
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    deliveries: list[tuple[Any, ...]] = []
    jobs: list[tuple[Any, ...]] = []
    for delivery, job in rows(count, datetime.now(UTC) - SPAN):
        deliveries.append(delivery)
        if job:
            jobs.append(job)
        if len(deliveries) >= 50_000:
            _flush(connection, deliveries, jobs)
    _flush(connection, deliveries, jobs)
    for _, definition in indexes:
        connection.execute(definition)
    connection.execute("COMMIT")
    connection.close()
    return time.perf_counter() - started


def _flush(connection: sqlite3.Connection, deliveries: list[Any], jobs: list[Any]) -> None:
    connection.executemany(
        "INSERT INTO deliveries (id, delivery, endpoint, forge, event, forge_event, action, "
        "repository, received_at, status, reason, size, content_type, headers, body, hooks, "
        "trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        deliveries,
    )
    connection.executemany(
        "INSERT INTO jobs (id, delivery_id, hook, status, attempts, max_attempts, queued_at, "
        "run_after, started_at, finished_at) VALUES (?, ?, ?, 'succeeded', 1, 1, ?, ?, ?, ?)",
        jobs,
    )
    deliveries.clear()
    jobs.clear()


def plans(path: Path, cases: dict[str, DeliveryQuery]) -> dict[str, list[str]]:
    """EXPLAIN QUERY PLAN of the exact SQL the store runs for each case."""
    connection = sqlite3.connect(path)
    found: dict[str, list[str]] = {}
    for name, query in cases.items():
        statements: list[str] = []
        connection.set_trace_callback(statements.append)
        sqlite_sql.select_deliveries(connection, query)
        connection.set_trace_callback(None)
        plan = connection.execute(f"EXPLAIN QUERY PLAN {statements[-1]}").fetchall()
        found[name] = [row[3] for row in plan]
    connection.close()
    return found


def serve(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hookd", "serve", "--config", str(folder / "hookd.yaml"),
         "--workers", "0"],
        stdout=log, stderr=subprocess.STDOUT, cwd=folder,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://\S+)", (folder / "server.log").read_text())
        if found:
            return process, found.group(1)
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"hookd serve did not start:\n{(folder / 'server.log').read_text()}")


def measure(client: httpx.Client, path: str, runs: int) -> dict[str, Any]:
    for _ in range(3):
        client.get(path)
    times, count = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
        count = len(answer.json())
    return {
        "path": path,
        "items": count,
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(sorted(times)[int(len(times) * 0.9) - 1], 2),
        "min_ms": round(min(times), 2),
    }


def pages(url: str, runs: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    window = f"since={iso(now - timedelta(days=11))}&until={iso(now - timedelta(days=10))}"
    with httpx.Client(base_url=url, timeout=60, verify=False) as client:
        first = client.get("/api/deliveries?limit=50")
        cursor = first.json()[-1]["id"]
        paths = {
            "first page": "/api/deliveries?limit=50",
            "second page (before=)": f"/api/deliveries?limit=50&before={cursor}",
            "endpoint + event": "/api/deliveries?endpoint=gitlab&event=push",
            "repository": "/api/deliveries?repository=acme/repo-7",
            "status=rejected": "/api/deliveries?status=rejected",
            "hook": "/api/deliveries?hook=deploy",
            "hook that matched none": "/api/deliveries?hook=nothing",
            "one day, 10 days ago": f"/api/deliveries?{window}",
            "live update (after=)": f"/api/deliveries?after={cursor}",
        }
        return [{"case": name, **measure(client, path, runs)} for name, path in paths.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the database in this folder.")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="hookd-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "bench.db"
    (folder / "hookd.yaml").write_text(CONFIG.format(db=db))
    fill_seconds = None
    if not db.exists():
        print(f"filling {db} with {args.rows:,} deliveries ...", flush=True)
        fill_seconds = round(fill(db, args.rows), 1)
        print(f"  done in {fill_seconds} s")
    now = datetime.now(UTC)
    queries = {
        "first page": DeliveryQuery(limit=50),
        "endpoint + event": DeliveryQuery(limit=50, endpoint="gitlab", event="push"),
        "repository": DeliveryQuery(limit=50, repository="acme/repo-7"),
        "hook": DeliveryQuery(limit=50, hook="deploy"),
        "one day": DeliveryQuery(
            limit=50, since=now - timedelta(days=11), until=now - timedelta(days=10)
        ),
    }
    plan = plans(db, queries)
    for name, steps in plan.items():
        print(f"plan for {name}: {' / '.join(steps)}")
    process, url = serve(folder)
    try:
        results = pages(url, args.runs)
    finally:
        process.terminate()
        process.wait(30)
    _report(results, plan, args, fill_seconds)


def _report(
    results: list[dict[str, Any]], plan: dict[str, list[str]], args: Any, fill_seconds: Any
) -> None:
    print(f"\n{'case':<24} {'items':>5} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}")
    for row in results:
        print(
            f"{row['case']:<24} {row['items']:>5} {row['median_ms']:>10} "
            f"{row['p90_ms']:>8} {row['min_ms']:>8}"
        )
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = RESULTS / f"list-pages-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "bench_list_pages",
                "rows": args.rows,
                "runs": args.runs,
                "fill_seconds": fill_seconds,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "sqlite": sqlite3.sqlite_version,
                "plans": plan,
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
