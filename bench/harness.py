"""Process control and measurement shared by the benchmarks: free ports, servers started
and stopped, RSS sampled from /proc, wrk runs parsed."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src"
"""The hookd every benchmark measures, in process and as `hookd serve`: this checkout's.
Without this, a benchmark run from another worktree measured whichever checkout pip had
installed (editable), and said nothing of it."""
sys.path.insert(0, str(SOURCE))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SOURCE), *filter(None, [os.environ.get("PYTHONPATH")])]
)
# The lean durable receiver's secret (fixed in its module).
DURABLE_REF_SECRET = "s3cret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    """A process's resident memory (or VmHWM, its peak), in KiB; 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


@dataclass
class RssSampler:
    """Samples a process's RSS every 50 ms in a thread; `peak` is the largest seen."""

    pid: int
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            return
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not come up")


@contextlib.contextmanager
def started(
    name: str,
    argv: Sequence[str],
    port: int,
    cwd: Path,
    ready_path: str = "/",
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    log = cwd / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log)
    try:
        try:
            wait_ready(server.url + ready_path, process)
        except RuntimeError as error:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name}: {error}; the end of its log:\n{tail}") from error
        yield server
    finally:
        server.stop()


def reference(
    kind: str, port: int, secret: str, cwd: Path
) -> contextlib.AbstractContextManager[Server]:
    argv = [sys.executable, str(ROOT / "bench" / "reference_apps.py"), kind, str(port), secret]
    return started(kind, argv, port, cwd)


def durable_ref_dir() -> Path:
    """The folder of the lean durable receiver, `../shared/bench/durable_ref.py` from the
    repository's root (shared with CI and every checkout, so it is run from there and never
    copied); exits with a sentence naming the path when it is missing."""
    folder = ROOT.parent / "shared" / "bench"
    if not (folder / "durable_ref.py").is_file():
        raise SystemExit(
            f"the lean durable receiver is missing: expected {folder / 'durable_ref.py'} "
            "(../shared/bench/durable_ref.py from the repository's root)"
        )
    return folder


def lean_module(database: Path) -> types.ModuleType:
    """The lean durable receiver's module, imported afresh on `database` (it opens its file
    as it is imported), for the benchmarks that call it in process."""
    os.environ["REF_DB"] = str(database)
    sys.modules.pop("durable_ref", None)
    sys.path.insert(0, str(durable_ref_dir()))
    try:
        import durable_ref
    finally:
        sys.path.remove(str(durable_ref_dir()))
    return durable_ref


def durable_ref(port: int, database: Path, cwd: Path) -> contextlib.AbstractContextManager[Server]:
    """The lean durable receiver under uvicorn with uvloop and httptools, as hookd runs,
    committing to `database`. It signs with its own secret, DURABLE_REF_SECRET. Its module is
    imported from the shared folder without writing bytecode there (the folder is read-only
    to the project); its log goes to `cwd`."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(durable_ref_dir()),
        "durable_ref:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    env = {"REF_DB": str(database), "PYTHONDONTWRITEBYTECODE": "1"}
    return started("lean_durable", argv, port, cwd, env=env)


def hookd(config: Path, port: int, *extra: str) -> contextlib.AbstractContextManager[Server]:
    argv = [
        sys.executable,
        "-m",
        "hookd",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        *extra,
    ]
    return started("hookd", argv, port, config.parent, "/healthz")


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    requests: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(output: str, percentile: str) -> float:
    found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")


def wrk_argv(
    url: str, script: Path, *, seconds: int, connections: int = 50, threads: int = 2
) -> list[str]:
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]


def run_wrk(
    url: str, script: Path, *, seconds: int, connections: int = 50, threads: int = 2
) -> WrkResult:
    argv = wrk_argv(url, script, seconds=seconds, connections=connections, threads=threads)
    return parse_wrk(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


@dataclass
class BackgroundWrk:
    """wrk loading a server beside a measurement until `stop` interrupts it (wrk prints its
    summary on SIGINT, so the figures cover the time it ran)."""

    process: subprocess.Popen[str]

    @classmethod
    def start(cls, url: str, script: Path, *, seconds: int) -> BackgroundWrk:
        argv = wrk_argv(url, script, seconds=seconds)
        return cls(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True))

    def stop(self) -> WrkResult:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            output = self.process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            self.process.kill()
            output = self.process.communicate()[0]
        return parse_wrk(output)


def parse_wrk(output: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests_per_second=float(rate.group(1)) if rate else 0.0,
        p50_ms=_latency(output, "50"),
        p99_ms=_latency(output, "99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(n) for n in errors.groups()) if errors else 0,
        requests=int(total.group(1)) if total else 0,
    )


def disk_bytes(database: Path) -> int:
    """The database's size on disk with its WAL and shared-memory index, as they are."""
    files = (
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    )
    return sum(path.stat().st_size for path in files if path.exists())


def checkpointed_bytes(database: Path) -> int:
    """disk_bytes once the receiver has stopped and the WAL is checkpointed and truncated
    (the database file then holds every row; the WAL is empty)."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return disk_bytes(database)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def workdir() -> Path:
    """A scratch folder, removed when the run ends. The disk is synced first: the kernel
    writing back an earlier scenario's files would otherwise slow this one's fsyncs."""
    os.sync()
    folder = Path(tempfile.mkdtemp(prefix="hookd-bench-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
