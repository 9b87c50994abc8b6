"""Signed forge deliveries built from a payload dict, posted to a live `hookd serve`, and
waiting on its jobs through `hookd jobs --json`.

Imported by the tests in this folder (`import deliveries`); the servers come from
tests/conftest.py. `hookd_json` runs the `hookd` click command in this process against the
server's config and database: the same code as the `hookd` program, without the second of
imports a subprocess costs, so polling stays cheap. Tests that check the program itself
(exit status, text output, `--follow`) use `LiveServer.hookd`, a real subprocess.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from click.testing import CliRunner

from conftest import SECRET, LiveServer
from hookd.cli import cli

GITLAB_TOKEN = "gitlab-token-1"
DEADLINE = 15.0


@dataclass(frozen=True)
class Outgoing:
    """One request as a forge would send it: the endpoint path, the raw body, the headers."""

    path: str
    body: bytes
    headers: dict[str, str]

    @property
    def delivery(self) -> str:
        return self.headers.get("X-GitHub-Delivery") or self.headers["Idempotency-Key"]


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON, non-ASCII as UTF-8 (as GitHub sends it)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def github(
    event: str,
    payload: Mapping[str, Any],
    *,
    secret: str = SECRET,
    delivery: str | None = None,
    path: str = "/hooks/github",
) -> Outgoing:
    """A GitHub delivery of `payload` for `event`, signed with `secret` (X-Hub-Signature-256)."""
    body = encode(payload)
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "123456",
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    return Outgoing(path, body, headers)


def gitlab(
    event_header: str,
    payload: Mapping[str, Any],
    *,
    token: str = GITLAB_TOKEN,
    delivery: str | None = None,
    path: str = "/hooks/gitlab",
) -> Outgoing:
    """A GitLab delivery: `X-Gitlab-Event: Push Hook` and the shared `X-Gitlab-Token`."""
    delivery = delivery or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.1.0",
        "X-Gitlab-Event": event_header,
        "X-Gitlab-Token": token,
        "X-Gitlab-Instance": "https://gitlab.example.com",
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "Idempotency-Key": delivery,
    }
    return Outgoing(path, encode(payload), headers)


_client: httpx.Client | None = None


def client() -> httpx.Client:
    """One HTTP client for every test: building one per request costs an SSL context."""
    global _client
    if _client is None:
        _client = httpx.Client(timeout=10)
        atexit.register(_client.close)
    return _client


def post(server: LiveServer, outgoing: Outgoing) -> httpx.Response:
    return client().post(
        server.url + outgoing.path, content=outgoing.body, headers=outgoing.headers
    )


def accept(server: LiveServer, outgoing: Outgoing) -> dict[str, Any]:
    """Post `outgoing` and return the 202 answer (`id`, `hooks`, ...); fail on anything else."""
    response = post(server, outgoing)
    assert response.status_code == 202, (response.status_code, response.text)
    answer: dict[str, Any] = response.json()
    assert answer["delivery"] == outgoing.delivery
    return answer


def accept_all(server: LiveServer, outgoing: Sequence[Outgoing]) -> list[dict[str, Any]]:
    """`accept` each, posted concurrently (the store commits them together), in order."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda one: accept(server, one), outgoing))


def send(
    server: LiveServer, event: str, payload: Mapping[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """Post a signed GitHub delivery and return the 202 answer."""
    return accept(server, github(event, payload, **kwargs))


def hookd_output(server: LiveServer, *args: str) -> bytes:
    """What `hookd ARGS` prints on stdout, run against the server's config in this process."""
    result = CliRunner().invoke(cli, [*args, "--config", str(server.config)], env=server.env)
    if result.exit_code != 0:
        raise AssertionError(
            f"hookd {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        ) from result.exception
    return result.stdout_bytes


def hookd_json(server: LiveServer, *args: str) -> Any:
    """`hookd ARGS --json` against the server's config (in this process), parsed."""
    return json.loads(hookd_output(server, *args, "--json"))


def list_jobs(
    server: LiveServer, *, delivery: str | None = None, hook: str | None = None
) -> list[dict[str, Any]]:
    """`hookd jobs --json`, newest first, optionally for one delivery (hookd id) or hook."""
    args = ["jobs", "--limit", "1000"]
    if delivery is not None:
        args += ["--delivery", delivery]
    if hook is not None:
        args += ["--hook", hook]
    found: list[dict[str, Any]] = hookd_json(server, *args)
    return found


FINISHED = frozenset({"succeeded", "failed", "timed_out", "cancelled"})


def wait_for_jobs(
    server: LiveServer,
    condition: Callable[[list[dict[str, Any]]], bool],
    *,
    delivery: str | None = None,
    hook: str | None = None,
    timeout: float = DEADLINE,
) -> list[dict[str, Any]]:
    """Poll `hookd jobs --json` until `condition(jobs)` holds; fail with the last list if the
    deadline passes first."""
    deadline = time.monotonic() + timeout
    while True:
        found = list_jobs(server, delivery=delivery, hook=hook)
        if condition(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"jobs did not reach the condition within {timeout}s:\n"
                f"{json.dumps(found, indent=1)}\n--- server log ---\n{server.log()}"
            )
        time.sleep(0.1)


def wait_finished(
    server: LiveServer, delivery: str, count: int = 1, timeout: float = DEADLINE
) -> list[dict[str, Any]]:
    """The `count` jobs of a delivery (hookd id), once every one of them has finished."""
    return wait_for_jobs(
        server,
        lambda jobs: len(jobs) == count and all(job["status"] in FINISHED for job in jobs),
        delivery=delivery,
        timeout=timeout,
    )


def wait_until(
    predicate: Callable[[], Any], what: str, timeout: float = DEADLINE, interval: float = 0.05
) -> Any:
    """Poll `predicate` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
