"""What a live `hookd serve` promises about the deliveries it answers: every 2xx is on
disk (even after `kill -9`), a body over the cap costs no more memory than the cap, and
no secret ever reaches a log line, a CLI's output or the database."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import BASIC_CONFIG, SECRET, LiveServer, Ran, hookd_here

Factory = Callable[..., LiveServer]

RECEIVE_ONLY = ("--workers", "0")


def github_request(body: bytes, secret: str = SECRET, event: str = "push") -> dict[str, str]:
    """Headers GitHub would send with `body`, signed with `secret`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def push_body(number: int = 0) -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "after": f"{number:040x}",
            "repository": {"full_name": "hookd-example/website"},
            "sender": {"login": "octocat"},
        }
    ).encode()


def post_push(server: LiveServer, number: int = 0) -> httpx.Response:
    body = push_body(number)
    return httpx.post(
        f"{server.url}/hooks/github", content=body, headers=github_request(body), timeout=10
    )


def hookd_ok(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """`hookd ARGS` in this process; it must succeed."""
    ran = hookd_here(capsys, *args)
    assert ran.code == 0, f"hookd {' '.join(args)} exited {ran.code}:\n{ran.out}\n{ran.err}"
    return ran


def listed(server: LiveServer, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """`hookd deliveries --json --limit 1000` against the server's config."""
    ran = hookd_ok(
        capsys, "deliveries", "--json", "--limit", "1000", "--config", str(server.config)
    )
    rows = json.loads(ran.out)
    assert isinstance(rows, list)
    return rows


def stored_rows(database: Path, columns: str = "id, delivery, status") -> list[tuple[Any, ...]]:
    """Rows of the deliveries table, read straight from the SQLite file (and its WAL)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return connection.execute(f"SELECT {columns} FROM deliveries").fetchall()
    finally:
        connection.close()


# -- every 2xx is stored -----------------------------------------------------------------


async def _post_concurrently(url: str, count: int) -> list[tuple[str, httpx.Response]]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(number: int) -> tuple[str, httpx.Response]:
            body = push_body(number)
            headers = github_request(body)
            response = await client.post(url, content=body, headers=headers)
            return headers["X-GitHub-Delivery"], response

        return await asyncio.gather(*(one(number) for number in range(count)))


def test_concurrent_deliveries_are_each_stored_exactly_once(
    server_factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    server = server_factory(BASIC_CONFIG, *RECEIVE_ONLY)
    results = asyncio.run(_post_concurrently(f"{server.url}/hooks/github", 100))

    statuses = Counter(response.status_code for _, response in results)
    assert statuses == {202: 100}, statuses
    answered = {response.json()["id"]: sent for sent, response in results}
    assert len(answered) == 100, "two deliveries were given the same hookd id"
    for sent, response in results:
        assert response.json()["delivery"] == sent

    rows = listed(server, capsys)
    assert {row["id"] for row in rows} == set(answered)
    per_delivery = Counter(row["delivery"] for row in rows)
    assert set(per_delivery) == set(answered.values())
    assert max(per_delivery.values()) == 1, "a delivery was stored more than once"
    assert {row["status"] for row in rows} == {"accepted"}


def test_delivery_answered_202_survives_kill_9(
    server_factory: Factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = server_factory(BASIC_CONFIG, *RECEIVE_ONLY)
    answers = [post_push(server, number) for number in range(5)]
    assert [answer.status_code for answer in answers] == [202] * 5
    server.process.send_signal(signal.SIGKILL)  # right after the last 202: no clean shutdown
    server.process.wait(10)
    assert server.process.returncode == -signal.SIGKILL

    ids = {answer.json()["id"] for answer in answers}
    on_disk = {row[0] for row in stored_rows(tmp_path / "hookd.db")}
    assert ids <= on_disk

    restarted = server_factory("", *RECEIVE_ONLY, directory=tmp_path)
    assert ids <= {row["id"] for row in listed(restarted, capsys)}
    ran = hookd_ok(
        capsys, "show", answers[-1].json()["id"], "--json", "--config", str(restarted.config)
    )
    shown = json.loads(ran.out)
    assert shown["delivery"] == answers[-1].json()["delivery"]
    assert json.loads(shown["payload"]) == json.loads(push_body(4))
    assert post_push(restarted, 99).status_code == 202


# -- a body over the cap -------------------------------------------------------------------


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def _reset_peak_rss(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux 4.0+), so that start-up's own peak
    does not hide what the next request costs."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pytest.skip("cannot reset the server's peak RSS (/proc/PID/clear_refs)")


def _megabytes(count: int) -> Iterator[bytes]:
    chunk = b"x" * (1024 * 1024)
    for _ in range(count):
        yield chunk


def test_body_over_max_body_gets_413_without_buffering_it(
    server_factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    server = server_factory(BASIC_CONFIG, *RECEIVE_ONLY)
    pid = server.process.pid
    assert post_push(server).status_code == 202  # warm up before measuring
    _reset_peak_rss(pid)
    before = _peak_rss_kib(pid)

    sent = 60
    headers = github_request(b"", event="push")  # the signature is never reached
    response = httpx.post(
        f"{server.url}/hooks/github", content=_megabytes(sent), headers=headers, timeout=30
    )

    assert response.status_code == 413
    assert "larger" in response.json()["error"]
    grown_mib = (_peak_rss_kib(pid) - before) / 1024
    # The receiver may hold up to max_body (25 MB) while it reads; never the whole body.
    assert grown_mib < 30, f"the server's peak RSS grew by {grown_mib:.0f} MiB for {sent} MiB"
    assert post_push(server, 1).status_code == 202
    rejected = [row for row in listed(server, capsys) if row["status"] == "rejected"]
    assert len(rejected) == 1
    assert rejected[0]["size"] <= 26 * 1024 * 1024, "it read far past the cap"


# -- secrets stay secret -------------------------------------------------------------------

GITHUB_SECRET = "gh-Secret-7Qx2vPz9-hookd"
GITLAB_TOKEN = "gl-Token-3Kd8wMn4-hookd"
SERVER_TOKEN = "api-Token-5Rb1yTc6-hookd"
SECRETS = (GITHUB_SECRET, GITLAB_TOKEN, SERVER_TOKEN)

SECRET_CONFIG = f"""
server:
  port: 0
  database: sqlite:///hookd.db
  token: {SERVER_TOKEN}
endpoints:
  github:
    forge: github
    secret: {GITHUB_SECRET}
  gitlab:
    forge: gitlab
    secret: {GITLAB_TOKEN}
hooks: {{}}
"""


def _send_mixed_deliveries(server: LiveServer) -> dict[str, str]:
    """A good and a badly signed GitHub delivery, a wrong and a right GitLab token.
    Returns the hookd id of each, by what it was."""
    github = f"{server.url}/hooks/github"
    gitlab = f"{server.url}/hooks/gitlab"
    body = push_body(1)
    good = httpx.post(github, content=body, headers=github_request(body, GITHUB_SECRET))
    forged = httpx.post(github, content=body, headers=github_request(body, "not-the-secret"))
    gitlab_headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Push Hook",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    gitlab_body = json.dumps({"object_kind": "push", "ref": "refs/heads/main"}).encode()
    wrong_token = httpx.post(
        gitlab, content=gitlab_body, headers={**gitlab_headers, "X-Gitlab-Token": "wrong"}
    )
    right_token = httpx.post(
        gitlab, content=gitlab_body, headers={**gitlab_headers, "X-Gitlab-Token": GITLAB_TOKEN}
    )
    assert [good.status_code, forged.status_code] == [202, 401]
    assert [wrong_token.status_code, right_token.status_code] == [401, 202]
    return {"github": good.json()["id"], "gitlab": right_token.json()["id"]}


def _assert_no_secret(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} shows a secret"


def test_no_secret_in_logs_cli_output_or_stored_headers(
    server_factory: Factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = server_factory(SECRET_CONFIG, *RECEIVE_ONLY)
    ids = _send_mixed_deliveries(server)

    def hookd(*args: str) -> Ran:
        return hookd_ok(capsys, *args, "--config", str(server.config))

    listing = hookd("deliveries", "--json")
    rows = json.loads(listing.out)
    assert len(rows) == 4
    rejected = next(row["id"] for row in rows if row["status"] == "rejected")
    outputs = {
        "hookd deliveries --json": listing,
        "hookd deliveries": hookd("deliveries"),
        "hookd check": hookd("check"),
        "hookd send push": hookd("send", "push", "--url", f"{server.url}/hooks/github"),
        "hookd send --endpoint gitlab": hookd(
            "send", "push", "--endpoint", "gitlab", "--url", f"{server.url}/hooks/gitlab"
        ),
    }
    for name, delivery_id in (*ids.items(), ("rejected", rejected)):
        outputs[f"hookd show {name}"] = hookd("show", delivery_id)
        outputs[f"hookd show {name} --json"] = hookd("show", delivery_id, "--json")
    for command, result in outputs.items():
        _assert_no_secret(f"{command} (stdout)", result.out)
        _assert_no_secret(f"{command} (stderr)", result.err)
    assert "202" in outputs["hookd send --endpoint gitlab"].out
    assert "Headers:" in outputs["hookd show gitlab"].out
    server.stop()
    log = server.log()
    assert "listening on" in log  # the serve banner is in this output too
    assert log.count("outcome=") == 6, "expected one log line per delivery"
    _assert_no_secret("the server's output", log)

    gitlab = json.loads(outputs["hookd show gitlab --json"].out)
    stored = {name.lower() for name, _ in gitlab["headers"]}
    assert "x-gitlab-event" in stored
    assert "x-gitlab-token" not in stored
    for file in tmp_path.glob("hookd.db*"):
        data = file.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{file.name} holds a secret"


DELIVERY_LOG_FIELDS = {
    "endpoint", "event", "delivery", "outcome", "status", "hooks", "duration_ms",
}  # fmt: skip


def test_json_log_lines_are_json_objects_with_the_delivery_fields(
    server_factory: Factory,
) -> None:
    server = server_factory(SECRET_CONFIG, *RECEIVE_ONLY, "--log-format", "json")
    banner = len(server.log())  # what it printed before it answered anything
    body = push_body()
    url = f"{server.url}/hooks/github"
    signed = github_request(body, GITHUB_SECRET)
    statuses = [
        httpx.post(url, content=body, headers=signed).status_code,
        httpx.post(url, content=body, headers={**signed, "X-Hub-Signature-256": "x"}).status_code,
        httpx.post(url, content=b"{}", headers={"Content-Type": "text/plain"}).status_code,
        httpx.post(
            url, content=b"not json", headers=github_request(b"not json", GITHUB_SECRET)
        ).status_code,
    ]
    assert statuses == [202, 401, 415, 400]
    server.stop()

    _assert_no_secret("the server's JSON log", server.log())
    assert "listening on" in server.log()[:banner]
    logged = [json.loads(line) for line in server.log()[banner:].splitlines()]
    assert all(isinstance(entry, dict) for entry in logged)
    deliveries = [entry for entry in logged if entry.get("logger") == "hookd.delivery"]
    assert deliveries == logged, "a log line that is not about a delivery"
    assert [entry["status"] for entry in deliveries] == statuses
    for entry in deliveries:
        assert entry.keys() >= DELIVERY_LOG_FIELDS, entry
        assert entry["endpoint"] == "github"
        assert isinstance(entry["duration_ms"], int | float)
        assert isinstance(entry["hooks"], list)
    assert deliveries[0]["outcome"] == "unmatched"  # no hook of SECRET_CONFIG runs on it
    assert deliveries[0]["delivery"] is not None
    assert {entry["outcome"] for entry in deliveries[1:]} == {"rejected"}
