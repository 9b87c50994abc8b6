"""hookd's benchmarks, one command: `python3 bench/run.py`.

Every scenario runs hookd and its references in the same run, alternating, for several
rounds; the table shows medians and ratios, and the JSON goes to bench/results/."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import durable_ref_dir, median
from neighbours import RECEIVERS, header, neighbour_round
from scenarios import DATABASES, backlog, end_to_end, ingest, large_body

RESULTS = Path(__file__).resolve().parent / "results"


INGEST_KEYS = ("requests_per_second", "p50_ms", "p99_ms", "peak_rss_mb", "non_2xx")
DISK_KEYS = (
    "stored",
    "disk_bytes",
    "disk_bytes_checkpointed",
    "bytes_per_delivery",
    "bytes_per_delivery_checkpointed",
)


def summarize_ingest(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Medians over the rounds; for the receivers that store, of their disk figures too."""
    summary = {}
    for name in rounds[0]:
        keys = INGEST_KEYS + (DISK_KEYS if name in DATABASES else ())
        summary[name] = {key: median([r[name][key] for r in rounds]) for key in keys}
    return summary


def print_ingest(summary: dict[str, dict[str, float]], rounds: list[dict[str, Any]]) -> None:
    base = summary["starlette"]["requests_per_second"]
    lean = summary["lean_durable"]["requests_per_second"]
    size = rounds[-1]["hookd"]["body_bytes"] / 1000
    print(
        f"\n## ingest: signed {size:.1f} KB pushes, wrk -t2 -c50, medians of {len(rounds)} rounds"
    )
    print(
        f"{'receiver':<14}{'req/s':>8}{'x starlette':>13}{'x lean':>8}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'peak RSS MB':>13}{'non-2xx':>9}"
    )
    for name, figures in summary.items():
        rate = figures["requests_per_second"]
        print(
            f"{name:<14}{rate:>8.0f}{rate / base:>13.2f}{rate / lean:>8.2f}"
            f"{figures['p50_ms']:>9.2f}{figures['p99_ms']:>9.2f}{figures['peak_rss_mb']:>13.1f}"
            f"{figures['non_2xx']:>9.0f}"
        )
    hookd = summary["hookd"]["requests_per_second"]
    print(
        f"hookd / lean durable receiver: {hookd / lean:.2f} x; hookd / starlette: "
        f"{hookd / base:.2f} x (req/s medians)"
    )
    last = rounds[-1]
    print(
        f"last round, warm-up included: hookd {last['hookd']['answered']} answered, "
        f"{last['hookd']['stored']} accepted deliveries stored, "
        f"{last['hookd']['log_lines']} delivery log lines; "
        f"lean_durable {last['lean_durable']['answered']} answered, "
        f"{last['lean_durable']['stored']} stored; body {last['hookd']['body_bytes']} bytes"
    )
    print_disk(summary)


def print_disk(summary: dict[str, dict[str, float]]) -> None:
    print(
        "\nbytes on disk per delivery (medians): (database + WAL + SHM) / deliveries stored,"
        "\nas left after the round, and once stopped with the WAL checkpointed and truncated"
    )
    print(
        f"{'receiver':<14}{'deliveries':>11}{'MB':>8}{'B/delivery':>12}"
        f"{'checkpointed B/delivery':>25}"
    )
    for name in DATABASES:
        figures = summary[name]
        print(
            f"{name:<14}{figures['stored']:>11.0f}{figures['disk_bytes'] / 1e6:>8.1f}"
            f"{figures['bytes_per_delivery']:>12.0f}"
            f"{figures['bytes_per_delivery_checkpointed']:>25.0f}"
        )


def summarize_neighbour(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Medians over the rounds: each receiver's quiet and beside figures, and the ratios
    (each round's, paired, then their median)."""
    summary: dict[str, dict[str, float]] = {}
    for name in RECEIVERS:
        figures = [r[name] for r in rounds]
        summary[name] = {
            "quiet_rps": median([f["quiet"]["requests_per_second"] for f in figures]),
            "beside_rps": median([f["beside"]["requests_per_second"] for f in figures]),
            "ratio": median([f["ratio"] for f in figures]),
            "quiet_p99_ms": median([f["quiet"]["p99_ms"] for f in figures]),
            "beside_p99_ms": median([f["beside"]["p99_ms"] for f in figures]),
            "p99_ratio": median([f["p99_ratio"] for f in figures]),
            "non_2xx": max(f[c]["non_2xx"] for f in figures for c in ("quiet", "beside")),
        }
    return summary


def neighbour_note(figures: dict[str, Any]) -> str:
    """One receiver's neighbour, in a few words (the last round's)."""
    if "receiver" in figures:
        return f"{figures['receiver']} {figures['requests_per_second']:.0f} req/s"
    return (
        f"{figures['writes_per_second']:.0f} w/s, fdatasync p50 {figures['fdatasync_p50_ms']:.1f}"
        f" p99 {figures['fdatasync_p99_ms']:.1f} ms"
    )


def print_neighbour(report: dict[str, Any]) -> None:
    rounds, summary = report["rounds"], report["median"]
    print("\n## neighbour: ingest quiet and with a neighbour on the same disk, medians of", end="")
    print(f" {len(rounds)} rounds\n{header(report['neighbour'], report['rate'])}")
    print(
        f"{'receiver':<14}{'req/s quiet':>12}{'beside':>8}{'x quiet':>9}{'p99 ms quiet':>14}"
        f"{'beside':>8}{'x quiet':>9}{'non-2xx':>9}  neighbour (last round)"
    )
    for name, f in summary.items():
        print(
            f"{name:<14}{f['quiet_rps']:>12.0f}{f['beside_rps']:>8.0f}{f['ratio']:>9.2f}"
            f"{f['quiet_p99_ms']:>14.1f}{f['beside_p99_ms']:>8.1f}{f['p99_ratio']:>9.2f}"
            f"{f['non_2xx']:>9.0f}  {neighbour_note(rounds[-1][name]['neighbour'])}"
        )
    if "neighbour_alone" in rounds[-1]:
        print(f"neighbour alone (last round): {neighbour_note(rounds[-1]['neighbour_alone'])}")


def print_end_to_end(results: list[dict[str, Any]]) -> None:
    print("\n## end to end: fixed rate, `run: true` (ms from arrival)")
    print(
        f"{'rate/s':>7}{'workers':>8}{'jobs':>7}{'start p50':>11}{'start p99':>11}{'done p50':>10}"
        f"{'done p99':>10}{'peak RSS MB':>13}{'non-202':>9}"
    )
    for r in results:
        print(
            f"{r['rate']:>7}{r['workers']:>8}{r['deliveries']:>7}{r['start_p50_ms']:>11.1f}"
            f"{r['start_p99_ms']:>11.1f}{r['finish_p50_ms']:>10.1f}{r['finish_p99_ms']:>10.1f}"
            f"{r['peak_rss_mb']:>13.1f}{r['non_202']:>9}"
        )


def print_backlog(results: list[dict[str, Any]]) -> None:
    base = results[0]["jobs_per_second"]
    print("\n## a backlog drained: jobs queued with no worker, then `--workers 2`, `run: true`")
    print(
        f"{'queued':>7}{'workers':>8}{'succeeded':>10}{'seconds':>9}{'jobs/s':>8}{'x smallest':>12}"
    )
    for r in results:
        print(
            f"{r['queued']:>7}{r['workers']:>8}{r['succeeded']:>10}{r['seconds']:>9.2f}"
            f"{r['jobs_per_second']:>8.0f}{r['jobs_per_second'] / base:>12.2f}"
        )


def print_large(results: dict[str, dict[str, Any]]) -> None:
    print("\n## one 25 MB delivery")
    print(f"{'receiver':<14}{'status':>8}{'seconds':>9}{'peak RSS growth MB':>20}")
    for name, r in results.items():
        print(
            f"{name:<14}{r['status']:>8}{r['seconds_to_answer']:>9.2f}"
            f"{r['peak_rss_growth_mb']:>20.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per contender")
    parser.add_argument(
        "--only",
        default="ingest,neighbour,e2e,backlog,large",
        help="comma-separated: ingest, neighbour, e2e, backlog, large",
    )
    parser.add_argument(
        "--neighbour",
        choices=("fsync", "receiver"),
        default="fsync",
        help="fsync: a process writing 8 KB + fdatasync at --neighbour-rate (the disk alone); "
        "receiver: the other durable receiver under its own wrk (the disk and, on 2 cores, "
        "the CPU)",
    )
    parser.add_argument(
        "--neighbour-rate", type=float, default=200, help="the fsync neighbour's writes/s"
    )
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    if chosen & {"ingest", "neighbour"}:
        durable_ref_dir()  # missing: say so now, not after the scenarios before it
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "machine": platform.platform(),
        "python": sys.version,
    }
    if "ingest" in chosen:
        rounds = [ingest(args.seconds) for _ in range(args.rounds)]
        report["ingest"] = {"rounds": rounds, "median": summarize_ingest(rounds)}
        print_ingest(report["ingest"]["median"], rounds)
    if "neighbour" in chosen:
        rounds = [
            neighbour_round(args.neighbour, args.seconds, args.neighbour_rate, flip=bool(n % 2))
            for n in range(args.rounds)
        ]
        report["neighbour"] = {
            "neighbour": args.neighbour,
            "rate": args.neighbour_rate,
            "rounds": rounds,
            "median": summarize_neighbour(rounds),
        }
        print_neighbour(report["neighbour"])
    if "e2e" in chosen:
        report["end_to_end"] = [
            end_to_end(rate, args.seconds, workers) for rate in (100, 200) for workers in (2, 8)
        ]
        print_end_to_end(report["end_to_end"])
    if "backlog" in chosen:
        report["backlog"] = backlog()
        print_backlog(report["backlog"])
    if "large" in chosen:
        report["large_body"] = large_body()
        print_large(report["large_body"])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
