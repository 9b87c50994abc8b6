"""What signing each body in wrk's Lua costs: `python3 bench/lua_cost.py [--rounds 3]`.

wrk -t2 -c50 against a sink that answers 202 without reading what it gets (uvloop, one
process), alternating a script posting one fixed signed body (the benchmark's before bodies
were unique) and the unique-body script (`unique_bodies.py`); per script, the medians of
wrk's requests/s and of wrk's own CPU time per request (from its rusage), so the Lua work
per request can be set against the rates the benchmark measures."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import free_port, median, parse_wrk, workdir, wrk_argv
from scenarios import SECRET, push_body
from unique_bodies import UniqueBodies, signature

ANSWER = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


class _Sink(asyncio.Protocol):
    """Answers 202 to each request once its head and Content-Length bytes have come."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport, self.buffer = cast(asyncio.Transport, transport), b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            found = LENGTH.search(self.buffer, 0, end)
            size = end + 4 + (int(found.group(1)) if found else 0)
            if len(self.buffer) < size:
                return
            self.buffer = self.buffer[size:]
            self.transport.write(ANSWER)


def sink(port: int) -> None:
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Sink, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    uvloop.run(serve())


def fixed_body_script(folder: Path, body: bytes) -> Path:
    """One body, signed once in Python, under a fresh delivery id per request."""
    (folder / "fixed-body.json").write_bytes(body)
    script = folder / "fixed.lua"
    script.write_text(f"""
wrk.method = "POST"
local file = io.open("{folder / "fixed-body.json"}", "rb")
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
wrk.headers["X-Hub-Signature-256"] = "{signature(body, SECRET)}"
local counter = 0
function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = "fixed-" .. counter
  return wrk.format()
end
""")
    return script


def run(url: str, script: Path, seconds: int) -> tuple[float, float]:
    """wrk's requests/s and its CPU microseconds per request."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    argv = wrk_argv(url, script, seconds=seconds)
    result = parse_wrk(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result.requests_per_second, cpu / max(result.requests, 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    folder, body, port = workdir(), push_body(), free_port()
    server = multiprocessing.Process(target=sink, args=(port,), daemon=True)
    server.start()
    time.sleep(1)
    url = f"http://127.0.0.1:{port}/hooks/github"
    figures: dict[str, list[tuple[float, float]]] = {"fixed body": [], "unique bodies": []}
    try:
        for _ in range(args.rounds):
            figures["fixed body"].append(run(url, fixed_body_script(folder, body), args.seconds))
            unique = UniqueBodies(body).wrk_script(folder, SECRET)
            figures["unique bodies"].append(run(url, unique, args.seconds))
    finally:
        server.terminate()
    print(f"wrk -t2 -c50 against a sink, medians of {args.rounds} rounds of {args.seconds}s")
    print(f"{'script':<15}{'req/s':>9}{'wrk CPU us/request':>20}")
    for name, rows in figures.items():
        rate = median([r for r, _ in rows])
        print(f"{name:<15}{rate:>9.0f}{median([c for _, c in rows]):>20.1f}")


if __name__ == "__main__":
    main()
