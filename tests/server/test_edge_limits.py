"""The receive edge against a client with no secret, on a live `hookd serve`: what it can make
the server hold (body bytes, head bytes, connections) and for how long (a head, a body's
gaps), and that the server answers a real delivery meanwhile and keeps serving after."""

from __future__ import annotations

import contextlib
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import deliveries
import httpx
import pytest

from conftest import LiveServer, hookd_here, write_config

Factory = Callable[..., LiveServer]
RECEIVE_ONLY = ("--workers", "0")
DEADLINE = 20.0


def config(**server: str) -> str:
    """A receive-only config for the `github` endpoint, with `server` settings added."""
    lines = "".join(f"  {key}: {value}\n" for key, value in server.items())
    return (
        "server:\n  port: 0\n  database: sqlite:///hookd.db\n" + lines + "endpoints:\n"
        '  github:\n    forge: github\n    secret: "It\'s a Secret to Everybody"\nhooks: {}\n'
    )


@pytest.fixture(autouse=True, scope="module")
def enough_open_files() -> None:
    """This process opens over a thousand sockets at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if max(soft, wanted) < 2400:
        pytest.skip(f"this process may open only {max(soft, wanted)} files")


def address(server: LiveServer) -> tuple[str, int]:
    found = re.fullmatch(r"http://([\d.]+):(\d+)", server.url)
    assert found
    return found[1], int(found[2])


def head(content_length: int | None = None, *, complete: bool = True) -> bytes:
    """A delivery's request head with a wrong signature (never checked by these tests)."""
    length = "" if content_length is None else f"content-length: {content_length}\r\n"
    text = (
        "POST /hooks/github HTTP/1.1\r\nhost: hookd\r\ncontent-type: application/json\r\n"
        "x-github-event: push\r\nx-github-delivery: 0-edge\r\n"
        f"x-hub-signature-256: sha256={'0' * 64}\r\n{length}"
    )
    return (text + "\r\n" if complete else text).encode()


@contextlib.contextmanager
def connections(server: LiveServer, count: int, first: bytes) -> Iterator[list[socket.socket]]:
    """`count` connections to `server`, each having sent `first`; closed on exit."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(address(server), timeout=DEADLINE)
            opened.append(sock)
            sock.sendall(first)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def answer(sock: socket.socket, timeout: float = DEADLINE) -> bytes:
    """Everything the server sends until it closes the connection; a reset fails the test."""
    sock.settimeout(timeout)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def status(response: bytes) -> int:
    found = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    assert found, response[:200]
    return int(found[1])


def peak_kib(server: LiveServer) -> int:
    text = Path(f"/proc/{server.process.pid}/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    assert found
    return int(found[1])


def reset_peak(server: LiveServer) -> None:
    """Start VmHWM again from the current RSS (Linux 4.0+)."""
    try:
        Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")
    except OSError:
        pytest.skip("cannot reset the server's peak RSS (/proc/PID/clear_refs)")


def signed(size: int = 0) -> deliveries.Outgoing:
    """A push with a body of its own (an identical body would be answered as a replay)."""
    payload = {"ref": "refs/heads/main", "after": uuid.uuid4().hex, "filler": "x" * size}
    return deliveries.github("push", payload)


def post(server: LiveServer, outgoing: deliveries.Outgoing) -> httpx.Response:
    """A signed delivery on a connection of its own (none kept from an earlier test)."""
    return httpx.post(
        server.url + outgoing.path, content=outgoing.body, headers=outgoing.headers, timeout=10
    )


def logged(server: LiveServer, kind: str) -> int:
    """How many refusals of `kind` (a status) the server's log lines count."""
    return sum(map(int, re.findall(rf"refused (\d+) requests?: {kind} ", server.log())))


def keeps_serving(server: LiveServer) -> None:
    response = post(server, signed())
    assert response.status_code == 202, (response.status_code, response.text)


# -- memory --------------------------------------------------------------------------------


def test_bodies_declared_large_cost_what_arrived(server_factory: Factory) -> None:
    server = server_factory(config(), *RECEIVE_ONLY)
    keeps_serving(server)  # warm up before measuring
    reset_peak(server)
    before = peak_kib(server)
    with connections(server, 40, head(26_214_000) + b"{"):
        time.sleep(1)  # the server has read every head and byte
        meanwhile = post(server, signed())
        grown_mib = (peak_kib(server) - before) / 1024
    assert meanwhile.status_code == 202, meanwhile.text
    assert grown_mib <= 50, f"the server's peak RSS grew by {grown_mib:.0f} MiB"
    keeps_serving(server)


def test_past_max_inflight_deliveries_get_503_until_uploads_end(server_factory: Factory) -> None:
    server = server_factory(
        config(max_body="1MB", max_inflight="2MB", body_timeout="60s"), *RECEIVE_ONLY
    )
    sent = 1_040_000  # of 1 MiB declared: 2,080,000 bytes held, 17,152 left
    with connections(server, 2, head(1024 * 1024) + b"x" * sent):
        refused = deliveries.wait_until(
            lambda: (answer := post(server, signed(50_000))).status_code == 503 and answer,
            "the uploads to fill the budget",
        )
        assert refused.headers["retry-after"] == "60"
        assert "as many request bodies" in refused.json()["error"]
        grown = signed(50_000)
        chunked = httpx.post(
            server.url + grown.path,
            content=iter([grown.body[:10_000], grown.body[10_000:]]),  # no Content-Length
            headers=grown.headers,
            timeout=10,
        )
        assert chunked.status_code == 503, chunked.text
        assert post(server, signed()).status_code == 202  # a small one still fits
    deliveries.wait_until(
        lambda: post(server, signed(500_000)).status_code == 202, "the budget to be freed"
    )
    assert "503" in server.log()


# -- the request head ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "extra"),
    [
        ("a 1 MB header", b"x-large: " + b"a" * (1024 * 1024) + b"\r\n"),
        ("10,000 headers", b"".join(b"x-field-%d: v\r\n" % n for n in range(10_000))),
        ("101 headers", b"".join(b"x-field-%d: v\r\n" % n for n in range(95))),
    ],
)
def test_large_heads_get_431(server_factory: Factory, what: str, extra: bytes) -> None:
    server = server_factory(config(), *RECEIVE_ONLY)
    reset_peak(server)
    before = peak_kib(server)
    with connections(server, 1, head(0, complete=False) + extra + b"\r\n") as (sock,):
        response = answer(sock)
    assert status(response) == 431, what
    assert re.search(rb'\{"error":"The request(.s headers are larger| has more than)', response)
    grown_mib = (peak_kib(server) - before) / 1024
    assert grown_mib <= 20, f"{what}: the server's peak RSS grew by {grown_mib:.0f} MiB"
    keeps_serving(server)


def test_a_head_of_100_fields_is_served(server_factory: Factory) -> None:
    server = server_factory(config(), *RECEIVE_ONLY)
    outgoing = signed()
    fields = {f"x-field-{n}": "v" for n in range(100 - len(outgoing.headers) - 5)}
    response = httpx.post(
        server.url + outgoing.path,
        content=outgoing.body,
        headers={**outgoing.headers, **fields},  # httpx adds 5: host, accept, ...
        timeout=10,
    )
    assert response.status_code == 202, response.text


# -- time ----------------------------------------------------------------------------------


class Trickle:
    """Sends the next byte of `text` on every socket, once a second, until stopped."""

    def __init__(self, sockets: list[socket.socket], text: bytes) -> None:
        self.sockets, self.text = sockets, text
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickle:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()
        self.thread.join()

    def _run(self) -> None:
        for byte in self.text[1:]:
            if self.stopped.wait(1.0):
                return
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.send(bytes([byte]))


def test_slow_heads_are_closed_and_deliveries_answered_meanwhile(server_factory: Factory) -> None:
    server = server_factory(config(header_timeout="2s"), *RECEIVE_ONLY)
    text = head(0)
    with connections(server, 500, text[:1]) as slow, Trickle(slow, text):
        began = time.monotonic()
        response = post(server, signed())
        elapsed = time.monotonic() - began
        assert response.status_code == 202, response.text
        assert elapsed < 1.0, f"a delivery waited {elapsed:.2f}s behind 500 slow heads"
        answers = [answer(sock) for sock in slow]
    assert {status(response) for response in answers} == {408}
    assert b"did not arrive within 2 seconds" in answers[0]
    deliveries.wait_until(lambda: logged(server, "408") == 500, "500 refusals in the log")
    assert server.log().count("408 The request's headers") <= 10, "a line per refusal"
    keeps_serving(server)


def test_a_stalled_body_gets_408_and_the_connection_closed(server_factory: Factory) -> None:
    server = server_factory(config(body_timeout="2s"), *RECEIVE_ONLY)
    began = time.monotonic()
    with connections(server, 1, head(1000) + b'{"ref": ') as (sock,):
        response = answer(sock)  # answer() returns once the server closed the connection
    assert status(response) == 408
    assert b"The body stopped arriving for more than 2 seconds" in response
    assert time.monotonic() - began >= 2
    keeps_serving(server)


def test_a_kept_alive_connection_gets_the_same_deadlines(server_factory: Factory) -> None:
    server = server_factory(config(header_timeout="2s", body_timeout="2s"), *RECEIVE_ONLY)
    for second in (head(0)[:40], head(100) + b"{"):  # a head, then a body, left unfinished
        with connections(server, 1, b"GET /healthz HTTP/1.1\r\nhost: hookd\r\n\r\n") as (sock,):
            first = b""
            while not re.search(rb"\r\n\r\n\{.*\}", first, re.S):
                first += sock.recv(65536)
            assert status(first) == 200 and b"connection: close" not in first
            sock.sendall(second)
            assert status(answer(sock)) == 408
    keeps_serving(server)


def start_limited(directory: Path, soft: int, hard: int) -> LiveServer:
    """`hookd serve` under `prlimit --nofile=SOFT:HARD`."""
    write_config(directory, config(header_timeout="5s"))
    output = directory / "server.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [
                *("prlimit", f"--nofile={soft}:{hard}", sys.executable, "-m", "hookd"),
                *("serve", "--config", str(directory / "hookd.yaml"), *RECEIVE_ONLY),
            ],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(directory, process, "", output)

    def started() -> bool:
        assert process.poll() is None, server.log()
        found = re.search(r"listening on (http://\S+)", server.log())
        if found:
            server.url = found[1]
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200
        return False

    deliveries.wait_until(started, "hookd serve to start under prlimit")
    return server


def test_past_the_open_file_limit_the_excess_gets_503_not_a_reset(tmp_path: Path) -> None:
    server = start_limited(tmp_path, 1024, 1024)
    try:
        assert "open-file limit 1024: serving at most 896 connections" in server.log()
        text = head(0)
        with connections(server, 1100, text[:1]) as slow:
            response = post(server, signed())
            assert response.status_code in (202, 503), response.text
            answers = [answer(sock) for sock in slow]
        statuses = [status(response) for response in answers]
        assert statuses.count(503) >= 1100 - 896, "the excess was not answered 503"
        assert set(statuses) == {408, 503}
        assert b"too many open connections" in answers[-1]
        deliveries.wait_until(lambda: logged(server, "503") >= 1100 - 896, "the 503s logged")
        deliveries.wait_until(
            lambda: post(server, signed()).status_code == 202, "the server to serve again"
        )
    finally:
        server.stop(signal.SIGKILL)


def test_the_soft_open_file_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    server = start_limited(tmp_path, 512, 2048)
    try:
        assert "open-file limit 2048: serving at most 1000 connections" in server.log()
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
        assert re.search(r"^Max open files\s+2048\s+2048 ", limits, re.M)
        keeps_serving(server)
    finally:
        server.stop(signal.SIGKILL)


def test_the_relay_has_the_same_edge(tmp_path: Path) -> None:
    output = tmp_path / "relay.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hookd", "relay", "--port", "0", "--db", "relay.db"],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        found = deliveries.wait_until(
            lambda: re.search(r"listening on (http://\S+)", output.read_text()), "the relay"
        )
        relay = LiveServer(tmp_path, process, found[1], output)
        assert "serving at most 1000 connections" in relay.log()
        large = b"x-large: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
        with connections(relay, 1, head(0, complete=False) + large) as (sock,):
            assert status(answer(sock)) == 431
        assert httpx.get(f"{relay.url}/healthz", timeout=5).status_code == 200
    finally:
        process.kill()
        process.wait()


# -- configuration -------------------------------------------------------------------------


def test_hookd_check_takes_the_limits_and_names_those_that_cannot_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "hookd.yaml")
    limits = {
        "max_inflight": "64MB",
        "max_header_bytes": "16KB",
        "header_timeout": "5s",
        "body_timeout": "30s",
        "keepalive_timeout": "2s",
        "max_connections": "200",
    }
    write_config(tmp_path, config(**limits))
    assert hookd_here(capsys, "check", "--config", path).code == 0
    write_config(tmp_path, config(max_body="1MB", max_inflight="512KB"))
    ran = hookd_here(capsys, "check", "--config", path)
    assert ran.code == 1
    assert "server: max_inflight (524288 bytes) must be at least max_body (1048576" in ran.err
    write_config(tmp_path, config(header_timeout="0s", max_connections="0"))
    ran = hookd_here(capsys, "check", "--config", path)
    assert "server.header_timeout: Input should be greater than 0" in ran.err
    assert "server.max_connections: Input should be greater than or equal to 1" in ran.err
