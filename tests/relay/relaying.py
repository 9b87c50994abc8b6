"""Helpers for the relay tests: real `hookd relay` / `hookd forward` / `hookd serve`
processes on loopback, signed deliveries, an SSE reader, and a local HTTP server that
answers like GitHub's REST API for webhooks.

Imported by the tests in this folder (`import relaying`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from conftest import SECRET, LiveServer, start_server, write_config
from hookd.cli import main
from local_http import LocalHttpServer

DEADLINE = 20.0

HOOKD_CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
hooks: {}
"""


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Proc:
    """A running `hookd` subprocess; its stdout and stderr go to `output`."""

    process: subprocess.Popen[bytes]
    output: Path
    url: str = ""

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log()))

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = DEADLINE) -> str:
        def seen() -> bool:
            if self.process.poll() is not None and self.count(pattern) < count:
                raise AssertionError(f"process exited before {pattern!r}:\n{self.log()}")
            return self.count(pattern) >= count

        wait_for(seen, f"{pattern!r} x{count} in:\n{self.log()}", timeout)
        return self.log()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def spawn(directory: Path, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
    output = directory / f"{name}.log"
    with output.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "hookd", *args],
            cwd=directory,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    return Proc(process, output)


@dataclass
class Live:
    """Starts relay, forwarder and hookd processes in `directory`; `stop_all` ends them."""

    directory: Path
    started: list[Proc | LiveServer] = field(default_factory=list)

    def relay(self, *extra: str, env: dict[str, str] | None = None) -> Proc:
        proc = spawn(
            self.directory, f"relay-{len(self.started)}", "relay", "--port", "0", "--db",
            str(self.directory / "relay.db"), *extra, env=env,
        )  # fmt: skip
        self.started.append(proc)
        found = proc.wait_for_log(r"listening on http://\S+")
        proc.url = re.findall(r"listening on (http://\S+)", found)[-1]
        wait_for(lambda: _healthy(proc.url), "the relay's /healthz")
        return proc

    def forward(self, url: str, *extra: str, name: str = "laptop", connect: bool = True) -> Proc:
        """`hookd forward URL ...`; waits until it is subscribed unless `connect` is False."""
        proc = spawn(self.directory, f"forward-{len(self.started)}", "forward", url,
                     "--name", name, *extra)  # fmt: skip
        self.started.append(proc)
        if connect:
            proc.wait_for_log("Connected to the")
        return proc

    def hookd(self, config: str = HOOKD_CONFIG, *extra: str) -> LiveServer:
        write_config(self.directory, config)
        server = start_server(self.directory, "--workers", "0", *extra)
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop(signal.SIGKILL)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def run_relay_cli(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """`hookd relay ARGS` in this process, for arguments it refuses before serving."""
    monkeypatch.delenv("HOOKD_RELAY_TOKEN", raising=False)
    monkeypatch.setattr(sys, "argv", ["hookd", "relay", "--port", "0", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert "listening on" not in captured.out
    return int(exited.value.code or 0), captured.err


def create_channel(relay_url: str, admin_token: str | None = None) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    response = httpx.post(f"{relay_url}/channels", headers=headers, timeout=5)
    assert response.status_code == 201, response.text
    content = response.json()
    return content["url"], content["token"]


def signed(
    body: bytes,
    *,
    event: str = "push",
    content_type: str = "application/json",
    secret: str = SECRET,
    delivery: str | None = None,
) -> dict[str, str]:
    """The headers GitHub would send with `body`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "123456",
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def read_events(
    url: str, headers: dict[str, str], count: int, timeout: float = 5.0
) -> list[ServerSentEvent]:
    """The first `count` delivery events of a relay channel's stream."""
    found: list[ServerSentEvent] = []
    with (
        httpx.Client(timeout=httpx.Timeout(5.0, read=timeout)) as client,
        connect_sse(client, "GET", url, headers=headers) as source,
    ):
        assert source.response.status_code == 200, source.response.read()
        for event in source.iter_sse():
            if event.event == "delivery":
                found.append(event)
            if len(found) == count:
                break
    return found


@dataclass
class Call:
    """One request the fake GitHub received."""

    method: str
    path: str
    authorization: str | None
    body: Any


class FakeGitHub(LocalHttpServer):
    """A loopback HTTP server answering like GitHub's REST API for repository and
    organization webhooks (list with Link pagination, create, update, delete), for one
    token. Hooks live in `hooks`, keyed by `/repos/o/r` or `/orgs/o`; `calls` records every
    request. Owners not in `hooks` answer 404, as GitHub does."""

    PAGE = 2

    def __init__(self, token: str, owners: tuple[str, ...] = ("/repos/octo/hello",)) -> None:
        self.token = token
        self.hooks: dict[str, list[dict[str, Any]]] = {owner: [] for owner in owners}
        self.calls: list[Call] = []
        self.next_id = 100
        self._lock = threading.Lock()
        self.serve(self._handler())

    def add(self, owner: str, url: str, events: list[str], active: bool = True) -> int:
        self.next_id += 1
        self.hooks[owner].append(
            {"id": self.next_id, "name": "web", "active": active, "events": events,
             "config": {"url": url, "content_type": "json", "insecure_ssl": "0"}}
        )  # fmt: skip
        return self.next_id

    def writes(self) -> list[Call]:
        return [call for call in self.calls if call.method != "GET"]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(*fake.answer("GET", self.path, self.headers, None))

            def do_POST(self) -> None:
                self._answer(*fake.answer("POST", self.path, self.headers, self._json()))

            def do_PATCH(self) -> None:
                self._answer(*fake.answer("PATCH", self.path, self.headers, self._json()))

            def do_DELETE(self) -> None:
                self._answer(*fake.answer("DELETE", self.path, self.headers, None))

            def _json(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"null")

            def _answer(self, status: int, content: Any, headers: dict[str, str]) -> None:
                body = b"" if content is None else json.dumps(content).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def answer(
        self, method: str, target: str, headers: Any, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        with self._lock:
            self.calls.append(Call(method, parts.path, headers.get("Authorization"), body))
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 401, {"message": "Bad credentials"}, {}
            found = re.fullmatch(
                r"(/(?:repos/[^/]+/[^/]+|orgs/[^/]+))/hooks(?:/(\d+))?", parts.path
            )
            if found is None or found[1] not in self.hooks:
                return 404, {"message": "Not Found"}, {}
            owner, hook_id = found[1], found[2]
            if hook_id is None:
                return self._collection(method, owner, parts.query, body)
            return self._one(method, owner, int(hook_id), body)

    def _collection(
        self, method: str, owner: str, query: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        hooks = self.hooks[owner]
        if method == "GET":
            page = int(parse_qs(query).get("page", ["1"])[0])
            start = (page - 1) * self.PAGE
            links = {}
            if start + self.PAGE < len(hooks):
                links["Link"] = f'<{self.url}{owner}/hooks?page={page + 1}>; rel="next"'
            return 200, [self._shown(hook) for hook in hooks[start : start + self.PAGE]], links
        url = body["config"]["url"]
        if any(hook["config"]["url"] == url for hook in hooks):
            return 422, {"message": "Validation Failed", "errors": [
                {"resource": "Hook", "code": "custom",
                 "message": "Hook already exists on this repository"}]}, {}  # fmt: skip
        self.add(owner, url, body.get("events", ["push"]), body.get("active", True))
        hooks[-1]["config"] = dict(body["config"])
        return 201, self._shown(hooks[-1]), {}

    def _one(
        self, method: str, owner: str, hook_id: int, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        hook = next((hook for hook in self.hooks[owner] if hook["id"] == hook_id), None)
        if hook is None:
            return 404, {"message": "Not Found"}, {}
        if method == "DELETE":
            self.hooks[owner].remove(hook)
            return 204, None, {}
        for key in ("active", "events"):
            if key in body:
                hook[key] = body[key]
        hook["config"].update(body.get("config", {}))
        return 200, self._shown(hook), {}

    @staticmethod
    def _shown(hook: dict[str, Any]) -> dict[str, Any]:
        """A hook as GitHub shows it: the secret masked."""
        config = dict(hook["config"])
        if "secret" in config:
            config["secret"] = "********"
        return {**hook, "config": config}

    def hook(self, owner: str, url: str) -> dict[str, Any] | None:
        return next((hook for hook in self.hooks[owner] if hook["config"]["url"] == url), None)
