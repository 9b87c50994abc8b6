"""What replay protection costs ingest: hookd under the ingest load (wrk -t2 -c50, a
signed push, each body its own), with replay protection on (its default) and with
`replay_window: 0`, alternating for several rounds, from one or more source trees.

    python3 bench/replay_cost.py [--rounds 4] [--seconds 6] [--tree DIR ...]

For each run: requests a second, hookd's CPU time per request (user + system, all its
threads, from /proc) and the bytes it wrote per request (/proc/PID/io write_bytes): CPU and
bytes are steadier than throughput on a shared machine. `--tree` runs hookd from another
checkout's `src` (a worktree of an earlier commit, for before and after)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import free_port, hookd, run_wrk, workdir
from scenarios import hookd_config, push_body, wrk_script

from hookd.core.procstat import stat_fields

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time (proc(5): utime and stime, fields 14 and 15)."""
    fields = stat_fields(Path(f"/proc/{pid}/stat").read_text())
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def written_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/PID/io")


def one_run(tree: Path, replay: bool, seconds: int) -> dict[str, float]:
    folder = workdir()
    config = hookd_config(folder, "'true'")
    if not replay:
        text = config.read_text().replace(
            "forge: github\n", "forge: github\n    replay_window: 0\n"
        )
        config.write_text(text)
    body = push_body()
    os.environ["PYTHONPATH"] = str(tree / "src")
    with hookd(config, free_port(), "--workers", "0") as server:
        url = f"{server.url}/hooks/github"
        run_wrk(url, wrk_script(folder, body), seconds=2)
        pid = server.process.pid
        cpu, written = cpu_seconds(pid), written_bytes(pid)
        result = run_wrk(url, wrk_script(folder, body), seconds=seconds)
        cpu, written = cpu_seconds(pid) - cpu, written_bytes(pid) - written
    return {
        "requests_per_second": result.requests_per_second,
        "cpu_us": cpu / result.requests * 1e6,
        "written_kib": written / result.requests / 1024,
        "non_2xx": result.non_2xx,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--tree", type=Path, action="append", default=[])
    args = parser.parse_args()
    trees = args.tree or [ROOT]
    runs: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for tree in trees:
            for replay in (True, False):
                runs.setdefault((str(tree), replay), []).append(
                    one_run(tree.resolve(), replay, args.seconds)
                )
    print(f"\n## replay protection's cost: medians of {args.rounds} rounds, wrk -t2 -c50")
    print(f"{'tree':<24}{'replay':>8}{'req/s':>8}{'CPU µs/req':>12}{'KiB/req':>9}{'non-2xx':>9}")
    for (tree, replay), found in runs.items():

        def mid(key: str, found: list[dict[str, Any]] = found) -> float:
            return statistics.median(run[key] for run in found)

        print(
            f"{Path(tree).name:<24}{'on' if replay else 'off':>8}"
            f"{mid('requests_per_second'):>8.0f}{mid('cpu_us'):>12.0f}"
            f"{mid('written_kib'):>9.1f}{sum(r['non_2xx'] for r in found):>9}"
        )


if __name__ == "__main__":
    main()
