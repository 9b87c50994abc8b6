"""The benchmark's signing, checked: `python3 -m pytest -q bench/test_unique_bodies.py`.

The Python midstates against hashlib and hmac, and wrk's Lua signing end to end against a
small local server that checks every request's signature, JSON and uniqueness."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import parse_wrk, wrk_argv
from sha256_midstate import IV, absorb, finish, hmac_midstates
from unique_bodies import UniqueBodies, signature

BASE = json.dumps({"ref": "refs/heads/main", "commits": [{"id": "a" * 40}] * 40}).encode()


@pytest.mark.parametrize("length", [0, 1, 55, 56, 63, 64, 65, 119, 128, 1000, 7937])
def test_sha256_matches_hashlib(length: int) -> None:
    data = bytes(range(256)) * (length // 256 + 1)
    data = data[:length]
    whole = length - length % 64
    assert finish(absorb(IV, data[:whole]), data[whole:], length) == hashlib.sha256(data).digest()


@pytest.mark.parametrize("secret", [b"", b"s3cret", b"bench-secret", b"k" * 64])
@pytest.mark.parametrize(("blocks", "tail"), [(0, 0), (1, 26), (3, 55), (124, 30)])
def test_hmac_midstates_match_hmac(secret: bytes, blocks: int, tail: int) -> None:
    message = (b"0123456789abcdef" * (4 * blocks + 4))[: 64 * blocks + tail]
    inner, outer = hmac_midstates(secret, message[: 64 * blocks])
    inner_digest = finish(inner, message[64 * blocks :], 64 + len(message))
    assert finish(outer, inner_digest, 96) == hmac.new(secret, message, hashlib.sha256).digest()


def test_bodies_are_json_of_fixed_size_and_differ() -> None:
    bodies = UniqueBodies(BASE)
    assert len(bodies.prefix) % 64 == 0
    made = [bodies.next() for _ in range(3)]
    assert len({body for _, body in made}) == 3
    for seq, body in made:
        assert len(body) == bodies.size()
        assert json.loads(body)["bench_seq"] == seq
        assert json.loads(body)["commits"] == json.loads(BASE)["commits"]


class _Checker(BaseHTTPRequestHandler):
    """Answers 202 to a POST whose body is JSON, signed with SECRET, and new; 401 or 409
    otherwise; counts both."""

    protocol_version = "HTTP/1.1"
    secret = "s3cret"
    lock = threading.Lock()
    seen: set[bytes] = set()
    refused: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 202
        if not hmac.compare_digest(
            self.headers["X-Hub-Signature-256"], signature(body, self.secret)
        ):
            status = 401
        elif json.loads(body)["bench_seq"] != self.headers["X-GitHub-Delivery"]:
            status = 400
        with self.lock:
            if status == 202 and body in self.seen:
                status = 409
            self.seen.add(body)
            if status != 202:
                self.refused.append(f"{status} {self.headers['X-GitHub-Delivery']}")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        """Quiet: the test counts."""


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """wrk resets its connections when it stops: not an error here; the rest is."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def checker() -> Iterator[ThreadingHTTPServer]:
    server = _Server(("127.0.0.1", 0), _Checker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_signs_every_body_and_none_repeats(
    checker: ThreadingHTTPServer, tmp_path: Path
) -> None:
    bodies = UniqueBodies(BASE)
    script = bodies.wrk_script(tmp_path, _Checker.secret)
    url = f"http://127.0.0.1:{checker.server_address[1]}/hooks/github"
    argv = wrk_argv(url, script, seconds=2, connections=4, threads=2)
    result = parse_wrk(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert _Checker.refused == []
    assert result.requests > 0
    assert result.non_2xx == 0
    # wrk counts the requests answered; the server may have taken a few more at the end.
    assert len(_Checker.seen) >= result.requests
