"""The neighbour scenario: hookd and the lean durable receiver each measured quiet and with a
neighbour writing and syncing to the same disk, in the same round; the ratio of the two
figures is what sharing the disk costs each.

Two neighbours:
- `fsync` (the default): bench/disk_writer.py, another process writing 8 KB and
  fdatasyncing it at a fixed rate, as a database's WAL does. It sleeps between writes, so
  it takes the disk and almost no CPU: the test is of the disk.
- `receiver`: the other durable receiver (the lean one beside hookd, hookd beside the lean
  one) on its own SQLite file in the same filesystem, under its own wrk -t2 -c50. On two
  cores the two wrk and the two servers also compete for the CPU, so its ratio mixes CPU
  and disk sharing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import BackgroundWrk, free_port, workdir
from scenarios import load, push_body, secret_of, start_receiver, wrk_script

BENCH = Path(__file__).resolve().parent
RECEIVERS = ("hookd", "lean_durable")


def header(kind: str, rate: float) -> str:
    """What the scenario's neighbour is, and what its ratio measures, in lines of 100."""
    return textwrap.fill(_neighbour_text(kind, rate), 100)


def _neighbour_text(kind: str, rate: float) -> str:
    if kind == "fsync":
        return (
            f"neighbour: another process writing 8 KB + fdatasync {rate:.0f} times a second to "
            "a file in the same filesystem (like a database's WAL); it sleeps between writes, "
            "so it shares the disk, not the CPU (`--neighbour receiver`: the other receiver "
            "under its own wrk, which on 2 cores shares the CPU too)"
        )
    return (
        "neighbour: the other durable receiver (lean beside hookd, hookd beside lean) on its "
        "own SQLite file in the same filesystem under its own wrk -t2 -c50; on 2 cores the "
        "two wrk and two servers also compete for the CPU, so this ratio is CPU and disk "
        "sharing together (`--neighbour fsync` isolates the disk)"
    )


class FsyncNeighbour:
    """bench/disk_writer.py in its own scratch folder; `figures`, once the block has ended,
    are its writes since `measuring()` (its rate and fdatasync latencies)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.figures: dict[str, Any] = {}

    def __enter__(self) -> FsyncNeighbour:
        target = workdir() / "wal"
        argv = [sys.executable, str(BENCH / "disk_writer.py"), str(target), str(self.rate)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        return self

    def measuring(self) -> None:
        os.kill(self.process.pid, signal.SIGUSR1)

    def __exit__(self, failed: type[BaseException] | None, *_: object) -> None:
        self.process.terminate()
        output = self.process.communicate(timeout=30)[0]
        if failed:
            return
        if self.process.returncode != 0:
            raise RuntimeError(f"the fsync neighbour exited with {self.process.returncode}")
        self.figures = json.loads(output)


class ReceiverNeighbour:
    """The durable receiver other than `beside`, in its own scratch folder (the same
    filesystem), under wrk until the block ends; `figures` are that wrk's, whole run."""

    def __init__(self, beside: str, seconds: int) -> None:
        self.name = "lean_durable" if beside == "hookd" else "hookd"
        self.seconds = seconds
        self.figures: dict[str, Any] = {}

    def __enter__(self) -> ReceiverNeighbour:
        folder = workdir()
        with contextlib.ExitStack() as stack:  # a failure here stops what had started
            server = stack.enter_context(start_receiver(self.name, folder, free_port()))
            script = wrk_script(folder, push_body(), secret_of(self.name))
            # Long enough for the measured receiver's start, warm-up and run; stopped at the end.
            url = f"{server.url}/hooks/github"
            wrk = BackgroundWrk.start(url, script, seconds=self.seconds + 60)
            stack.callback(lambda: self.figures.update(asdict(wrk.stop()), receiver=self.name))
            self.stack = stack.pop_all()
        return self

    def measuring(self) -> None:
        """wrk's figures cover its whole run: nothing to restart."""

    def __exit__(self, *_: object) -> None:
        self.stack.close()


def measure(
    name: str, seconds: int, beside: FsyncNeighbour | ReceiverNeighbour | None
) -> dict[str, Any]:
    """`name` under the ingest load (warm-up, then `seconds`) in a fresh scratch folder."""
    folder = workdir()
    with start_receiver(name, folder, free_port()) as server:
        measuring = beside.measuring if beside else None
        return load(server, name, push_body(), folder, seconds, measuring)


def neighbour_round(kind: str, seconds: int, rate: float, flip: bool) -> dict[str, Any]:
    """One round: for each receiver, quiet and beside the neighbour (the order of receivers
    and of the two conditions flips with `flip`, so rounds alternate); with the fsync
    neighbour, also its figures alone first."""
    result: dict[str, Any] = {}
    if kind == "fsync":
        with FsyncNeighbour(rate) as alone:
            time.sleep(2)
            alone.measuring()
            time.sleep(seconds)
        result["neighbour_alone"] = alone.figures
    for name in reversed(RECEIVERS) if flip else RECEIVERS:
        figures: dict[str, Any] = {}
        for condition in ("beside", "quiet") if flip else ("quiet", "beside"):
            if condition == "quiet":
                figures["quiet"] = measure(name, seconds, None)
                continue
            with (
                FsyncNeighbour(rate) if kind == "fsync" else ReceiverNeighbour(name, seconds)
            ) as neighbour:
                figures["beside"] = measure(name, seconds, neighbour)
            figures["neighbour"] = neighbour.figures
        figures["ratio"] = ratio(figures, "requests_per_second")
        figures["p99_ratio"] = ratio(figures, "p99_ms")
        result[name] = figures
    return result


def ratio(figures: dict[str, Any], key: str) -> float:
    quiet = figures["quiet"][key]
    return float(figures["beside"][key] / quiet) if quiet else float("nan")
