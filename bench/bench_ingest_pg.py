"""Ingest throughput on PostgreSQL with one and with two receivers, and on SQLite, from the
same run: `python3 bench/bench_ingest_pg.py [--rounds 3] [--seconds 10]`.

Each contender is `hookd serve --workers 0` on a fresh database, with one hook matching
every push (so each delivery also commits its job, and on PostgreSQL wakes the workers);
wrk posts signed 8.0 KB pushes, each body its own (so hookd's replay protection, on, finds
no duplicate) with a fresh delivery id, 50 connections in all (split evenly over the
receivers, one wrk per receiver, run at the same time). Contenders alternate within each
round; the table shows medians and the JSON goes to bench/results/.

PostgreSQL is a real server started from the machine's initdb/pg_ctl (fsync=on, defaults
otherwise), as the tests start it; running as root needs the `postgres` user."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]

import psycopg  # noqa: E402
from harness import Server, free_port, hookd, median, run_wrk, workdir  # noqa: E402
from scenarios import SECRET, push_body, wrk_script  # noqa: E402

from pg import Cluster, find_binaries  # noqa: E402

RESULTS = BENCH / "results"
CONNECTIONS = 50
CONTENDERS = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2))


def write_config(folder: Path, database: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "hookd.yaml"
    config.write_text(
        f"server:\n  database: {database}\n"
        # Replay protection on (its default): every body the benchmark sends is its own.
        f"endpoints:\n  github:\n    forge: github\n    secret: {SECRET}\n"
        "hooks:\n  deploy:\n    on: push\n    run: 'true'\n"
    )
    return config


@contextlib.contextmanager
def receivers(folder: Path, database: str, count: int) -> Iterator[list[Server]]:
    """`count` receive-only hookd processes on one database, each in its own folder."""
    with contextlib.ExitStack() as stack:
        configs = [write_config(folder / f"receiver{n}", database) for n in range(count)]
        yield [stack.enter_context(hookd(config, free_port(), "--workers", "0"))
               for config in configs]  # fmt: skip


def load(servers: list[Server], folder: Path, seconds: int) -> dict[str, Any]:
    """wrk against every receiver at once; rates add up, latencies are the worst seen. Each
    wrk gets a script of its own, so every delivery id it sends is new to the database."""
    share = CONNECTIONS // len(servers)
    body = push_body()

    def run(server: Server) -> Any:
        scripts = folder / f"wrk-{uuid.uuid4().hex[:8]}"
        scripts.mkdir()
        script = wrk_script(scripts, body)
        url = f"{server.url}/hooks/github"
        return run_wrk(url, script, seconds=seconds, connections=share, threads=1)

    with ThreadPoolExecutor(len(servers)) as pool:
        results = list(pool.map(run, servers))
    return {
        "requests_per_second": sum(r.requests_per_second for r in results),
        "p50_ms": max(r.p50_ms for r in results),
        "p99_ms": max(r.p99_ms for r in results),
        "non_2xx": sum(r.non_2xx for r in results),
        "errors": sum(r.errors for r in results),
        "requests": sum(r.requests for r in results),
        "per_receiver": [asdict(r) for r in results],
    }


ACCEPTED = "SELECT count(*) FROM deliveries WHERE status = 'accepted'"


def stored(database: str, folder: Path) -> int:
    if database.startswith("sqlite"):
        with sqlite3.connect(folder / "hookd.db") as connection:
            return int(connection.execute(ACCEPTED).fetchone()[0])
    with psycopg.connect(database) as connection:
        row = connection.execute(ACCEPTED).fetchone()
        return int(row[0]) if row else 0


def measure(backend: str, count: int, database: str, folder: Path, seconds: int) -> dict[str, Any]:
    with receivers(folder, database, count) as servers:
        load(servers, folder, 2)  # warm-up: connections, pools, caches
        before = stored(database, folder)
        figures = load(servers, folder, seconds)
        figures["stored"] = stored(database, folder) - before
    figures.update(backend=backend, receivers=count)
    return figures


def one_round(cluster: Cluster, seconds: int) -> list[dict[str, Any]]:
    results = []
    for backend, count in CONTENDERS:
        folder = workdir()
        if backend == "sqlite":
            database = f"sqlite:///{folder / 'hookd.db'}"
        else:
            database = cluster.new_database()
        results.append(measure(backend, count, database, folder, seconds))
    return results


def summarize(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    keys = ("requests_per_second", "p50_ms", "p99_ms", "non_2xx", "errors", "stored")
    summary = []
    for index, (backend, count) in enumerate(CONTENDERS):
        figures = {key: median([r[index][key] for r in rounds]) for key in keys}
        summary.append({"backend": backend, "receivers": count, **figures})
    return summary


def print_table(summary: list[dict[str, Any]], rounds: int, seconds: int) -> None:
    base = summary[0]["requests_per_second"] or 1
    print(
        f"\n## ingest: signed 8.0 KB pushes, each its own, one matching hook, wrk with "
        f"{CONNECTIONS} connections for {seconds}s, medians of {rounds} rounds, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'backend':<12}{'receivers':>10}{'req/s':>9}{'x sqlite':>10}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'non-2xx':>9}{'stored':>9}"
    )
    for row in summary:
        print(
            f"{row['backend']:<12}{row['receivers']:>10}{row['requests_per_second']:>9.0f}"
            f"{row['requests_per_second'] / base:>10.2f}{row['p50_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{row['non_2xx']:>9.0f}{row['stored']:>9.0f}"
        )


def with_cluster(work: Callable[[Cluster], Any]) -> Any:
    binaries = find_binaries()
    if binaries is None:
        raise SystemExit("bench_ingest_pg: initdb/pg_ctl not found (apt-get install postgresql)")
    cluster = Cluster(binaries)
    try:
        cluster.initialize()
        cluster.start()
        cluster.build_template()
        return work(cluster)
    finally:
        cluster.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per contender")
    args = parser.parse_args()
    rounds = with_cluster(lambda c: [one_round(c, args.seconds) for _ in range(args.rounds)])
    summary = summarize(rounds)
    print_table(summary, args.rounds, args.seconds)
    report = {
        "when": datetime.now(UTC).isoformat(), "machine": platform.platform(),
        "cpus": os.cpu_count(), "python": sys.version, "seconds": args.seconds,
        "connections": CONNECTIONS, "median": summary, "rounds": rounds,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ingest-pg-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
