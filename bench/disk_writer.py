"""A neighbour on the disk, like a database's WAL: writes 8 KB and fdatasyncs it, RATE times
a second, until SIGTERM; then prints its figures as one JSON line. SIGUSR1 starts the figures
afresh (the scenario sends it when its measured run begins). It takes little CPU (a sleep
between writes), so what it takes from a receiver beside it is the disk.

`python3 bench/disk_writer.py PATH RATE`. The file grows to 64 MiB, then is written again
from its start, as a WAL is after a checkpoint."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from types import FrameType

from harness import median, percentile

BLOCK = 8192
WRAP = 64 * 1024 * 1024


class Figures:
    """fdatasync latencies since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self, *_: object) -> None:
        self.began = time.monotonic()
        self.latencies: list[float] = []

    def summary(self, rate: float) -> dict[str, float]:
        seconds = time.monotonic() - self.began
        return {
            "target_rate": rate,
            "writes": len(self.latencies),
            "seconds": seconds,
            "writes_per_second": len(self.latencies) / seconds,
            "fdatasync_p50_ms": median(self.latencies),
            "fdatasync_p99_ms": percentile(self.latencies, 0.99),
        }


def run(path: str, rate: float) -> None:
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    figures = Figures()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, figures.reset)
    block = os.urandom(BLOCK)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    offset = 0
    due = time.monotonic()
    while not stopping:
        began = time.monotonic()
        os.pwrite(descriptor, block, offset)
        os.fdatasync(descriptor)
        figures.latencies.append((time.monotonic() - began) * 1000)
        offset = (offset + BLOCK) % WRAP
        # A slow fdatasync delays the next write; the writes it delayed are not caught up in a
        # burst, so the rate is at most RATE and the disk's slowness shows in writes_per_second.
        due = max(due + 1 / rate, time.monotonic())
        time.sleep(max(0.0, due - time.monotonic()))
    os.close(descriptor)
    print(json.dumps(figures.summary(rate)), flush=True)


if __name__ == "__main__":
    run(sys.argv[1], float(sys.argv[2]))
