"""Reloading the configuration of a live `hookd serve`: under load, by `hookd reload`
(`POST /api/reload`), by SIGHUP and by a change to the config file or a secret file."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import deliveries
import httpx

from conftest import LiveServer

OLD_SECRET = "the-first-secret-of-the-endpoint"
NEW_SECRET = "the-secret-it-was-rotated-to-now"
PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "octo/repo"}}


def config_text(hooks: list[str], *, workers: int = 1, extra_server: str = "") -> str:
    """A config with one GitHub endpoint whose secret is in secret.txt, and `hooks` (each
    runs `true` on push)."""
    listed = "".join(
        f'  {name}:\n    endpoint: github\n    on: push\n    run: "true"\n' for name in hooks
    )
    server = (
        "server:\n  port: 0\n  database: sqlite:///hookd.db\n  reject_limit: 0\n"
        f"  workers: {workers}\n{extra_server}"
    )
    endpoint = (
        "endpoints:\n  github:\n    forge: github\n    replay_window: 0\n"
        "    secret_file: [secret.txt]\n"
    )
    return f"{server}{endpoint}hooks:\n{listed or '  {}' + chr(10)}"


def replace_file(path: Path, text: str) -> None:
    """Write `path` as an editor does: a new file renamed over the old one."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def start(
    server_factory: Callable[..., LiveServer], tmp_path: Path, hooks: list[str], *extra: str
) -> LiveServer:
    (tmp_path / "secret.txt").write_text(OLD_SECRET + "\n", encoding="utf-8")
    return server_factory(config_text(hooks), *extra)


def api_reload(server: LiveServer) -> dict[str, Any]:
    response = deliveries.client().post(f"{server.url}/api/reload")
    assert response.status_code in (200, 422), response.text
    answer: dict[str, Any] = response.json()
    return answer


def push(secret: str) -> deliveries.Outgoing:
    return deliveries.github("push", {**PUSH, "nonce": os.urandom(8).hex()}, secret=secret)


def wait_for_log(server: LiveServer, pattern: str, timeout: float = 10) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, server.log())
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in the server's log:\n{server.log()}")


def reloads_counted(server: LiveServer) -> dict[str, float]:
    text = deliveries.client().get(f"{server.url}/metrics").text
    return {
        outcome: float(value)
        for outcome, value in re.findall(
            r'hookd_config_reloads_total\{outcome="(\w+)"\} (\S+)', text
        )
    }


class Counter:
    """How many deliveries were answered so far, across the sending threads."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


@dataclass(frozen=True)
class Sent:
    secret: str
    started: float
    ended: float
    status: int
    answer: dict[str, Any]


@dataclass(frozen=True)
class Phase:
    """A configuration and when it may have been in force (the swap happens somewhere
    inside the reload request that brought it in, or ended it)."""

    config: str
    secret: str
    hooks: frozenset[str]
    since: float
    until: float = float("inf")


def test_deliveries_during_five_reloads_are_answered_as_the_config_in_force_said(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = start(server_factory, tmp_path, ["first"], "--watch", "0")
    initial = api_reload(server)
    assert initial["outcome"] == "unchanged"
    phases = [Phase(initial["config"], OLD_SECRET, frozenset({"first"}), 0.0)]
    # Hooks added and removed, and (third) the secret rotated with the file unchanged.
    steps = [
        (["first", "second"], OLD_SECRET),
        (["second", "third"], OLD_SECRET),
        (["second", "third"], NEW_SECRET),
        (["second", "third", "fourth"], NEW_SECRET),
        (["fourth"], NEW_SECRET),
    ]
    total = 200
    answered = Counter()

    def send(index: int) -> Sent:
        secret = OLD_SECRET if index % 2 else NEW_SECRET
        outgoing = push(secret)
        started = time.monotonic()
        response = deliveries.post(server, outgoing)  # a reset or timeout fails the test
        sent = Sent(secret, started, time.monotonic(), response.status_code, response.json())
        answered.add()
        return sent

    def reload_all() -> None:
        for number, (hooks, secret) in enumerate(steps, start=1):
            while answered.value < number * total // (len(steps) + 1):
                time.sleep(0.002)
            replace_file(server.config, config_text(hooks))
            (tmp_path / "secret.txt").write_text(secret + "\n", encoding="utf-8")
            began = time.monotonic()
            answer = api_reload(server)
            ended = time.monotonic()
            assert answer["outcome"] == "applied", answer
            phases[-1] = dataclasses.replace(phases[-1], until=ended)
            phases.append(Phase(answer["config"], secret, frozenset(hooks), began))

    reloads = threading.Thread(target=reload_all)
    reloads.start()
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(send, range(total)))
    reloads.join(30)
    assert not reloads.is_alive()
    assert len(phases) == 6 and len({phase.config for phase in phases}) == 6

    by_config = {phase.config: phase for phase in phases}
    statuses = {sent.status for sent in results}
    assert statuses <= {202, 401}, statuses
    for sent in results:
        possible = [p for p in phases if p.since <= sent.ended and p.until >= sent.started]
        if sent.status == 401:
            assert any(p.secret != sent.secret for p in possible), sent
            continue
        detail = deliveries.client().get(f"{server.url}/api/deliveries/{sent.answer['id']}")
        decided = by_config[detail.json()["config"]]
        assert decided in possible, (sent, decided)
        assert decided.secret == sent.secret, (sent, decided)
        assert set(sent.answer["hooks"]) == decided.hooks, (sent, decided)
    # Both secrets were accepted in their time, and refused in the other's.
    assert {(s.secret, s.status) for s in results} == {
        (OLD_SECRET, 202), (OLD_SECRET, 401), (NEW_SECRET, 202), (NEW_SECRET, 401),
    }  # fmt: skip
    assert reloads_counted(server)["applied"] == 5

    # The last configuration runs its new hook on the next delivery.
    answer = deliveries.accept(server, push(NEW_SECRET))
    assert answer["hooks"] == ["fourth"]
    jobs = deliveries.wait_finished(server, answer["id"])
    assert [(job["hook"], job["status"]) for job in jobs] == [("fourth", "succeeded")]
    shown = server.hookd("show", answer["id"]).stdout
    assert f"decided by configuration: {phases[-1].config}" in shown
    page = deliveries.client().get(f"{server.url}/deliveries/{answer['id']}").text
    assert f'<dt>Configuration</dt><dd class="mono">{phases[-1].config}</dd>' in page


def test_a_broken_file_keeps_the_config_and_hookd_reload_says_both_outcomes(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = start(server_factory, tmp_path, ["first"], "--watch", "0")
    before = deliveries.accept(server, push(OLD_SECRET))
    kept = deliveries.client().get(f"{server.url}/api/deliveries/{before['id']}").json()["config"]

    broken = config_text(["first"]).replace("    endpoint: github\n", "    endpoint: gitlab\n")
    broken = broken.replace("  workers: 1\n", "  workers: -3\n")
    replace_file(server.config, broken)
    ran = server.hookd("reload", "--url", server.url, check=False)
    assert ran.returncode == 1
    lines = ran.stderr.splitlines()
    workers_line = broken.splitlines().index("  workers: -3") + 1
    hook_line = broken.splitlines().index("    endpoint: gitlab") + 1
    assert any(line.startswith(f"{server.config}:{workers_line}: ") for line in lines), lines
    assert any(line.startswith(f"{server.config}:{hook_line}: ") for line in lines), lines
    assert lines[-1] == f"failed: configuration {kept} stays in force"
    log = server.log()
    assert f"{server.config}:{workers_line}: " in log
    assert f"{server.config}:{hook_line}: " in log
    # The old configuration still decides.
    after = deliveries.accept(server, push(OLD_SECRET))
    assert after["hooks"] == ["first"]
    detail = deliveries.client().get(f"{server.url}/api/deliveries/{after['id']}").json()
    assert detail["config"] == kept

    replace_file(server.config, config_text(["first", "second"]))
    ran = server.hookd("reload", "--url", server.url)
    applied = re.fullmatch(
        r"applied: configuration (\w{12}) in force \(was (\w{12})\)\n", ran.stdout
    )
    assert applied is not None, ran.stdout
    assert applied.group(2) == kept and applied.group(1) != kept
    assert deliveries.accept(server, push(OLD_SECRET))["hooks"] == ["first", "second"]
    ran = server.hookd("reload", "--url", server.url)
    assert ran.stdout == f"unchanged: configuration {applied.group(1)} stays in force\n"
    assert reloads_counted(server) == {"applied": 1.0, "failed": 1.0, "unchanged": 1.0}


def test_a_queued_job_of_a_removed_hook_is_cancelled_saying_why(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = start(server_factory, tmp_path, ["first", "second"], "--watch", "0", "--workers", "0")
    answer = deliveries.accept(server, push(OLD_SECRET))
    replace_file(server.config, config_text(["second"]))
    reloaded = api_reload(server)
    assert reloaded["outcome"] == "applied"
    jobs = {job["hook"]: job for job in deliveries.list_jobs(server, delivery=answer["id"])}
    assert jobs["first"]["status"] == "cancelled"
    assert jobs["first"]["error"] == (
        f"cancelled: its hook was removed from the configuration ({reloaded['config']})"
    )
    assert jobs["second"]["status"] == "queued"


def test_sighup_and_file_changes_reload(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = start(server_factory, tmp_path, ["first"], "--watch", "0.05")
    # SIGHUP, with the file unchanged: nothing to apply.
    server.process.send_signal(signal.SIGHUP)
    wait_for_log(server, r"reload \(SIGHUP\): configuration \w+ unchanged")
    # An edit to the file: the new hook decides the next delivery.
    replace_file(server.config, config_text(["first", "second"]))
    wait_for_log(
        server, r"reload \(file changed\): configuration \w+ in force .*hooks added: second"
    )
    assert deliveries.accept(server, push(OLD_SECRET))["hooks"] == ["first", "second"]
    # A rotated secret file: the old secret is refused from then on.
    (tmp_path / "secret.txt").write_text(NEW_SECRET + "\n", encoding="utf-8")
    deadline = time.monotonic() + 10
    while deliveries.post(server, push(OLD_SECRET)).status_code != 401:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    assert deliveries.accept(server, push(NEW_SECRET))["hooks"] == ["first", "second"]
    # A file saved broken: its problems are logged, the configuration stays.
    replace_file(server.config, config_text(["first"]).replace("on: push", "on: [push"))
    wait_for_log(server, rf"{re.escape(str(server.config))}:\d+: ")
    wait_for_log(server, r"reload \(file changed\) failed with \d+ problems")
    assert deliveries.accept(server, push(NEW_SECRET))["hooks"] == ["first", "second"]


def test_workers_and_retention_follow_a_reload(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text(OLD_SECRET + "\n", encoding="utf-8")
    slow = config_text([]).replace(
        "hooks:\n  {}\n", "hooks:\n  slow:\n    endpoint: github\n    on: push\n    run: sleep 2\n"
    )
    server = server_factory(slow, "--watch", "0")
    three = [deliveries.accept(server, push(OLD_SECRET))["id"] for _ in range(3)]
    replace_file(server.config, slow.replace("workers: 1", "workers: 3"))
    assert api_reload(server)["outcome"] == "applied"
    wait_for_log(server, r"workers: 3 \(were 1\)")
    # Three workers now: the three jobs run at once (one was running before).
    deliveries.wait_for_jobs(
        server, lambda jobs: sum(job["status"] == "running" for job in jobs) == 3, hook="slow"
    )
    for delivery in three:
        deliveries.wait_finished(server, delivery)
    # Retention set by a reload prunes at once.
    time.sleep(1.1)
    with_retention = slow.replace("workers: 1", "workers: 3").replace(
        "  reject_limit: 0\n", "  reject_limit: 0\n  retention: 1s\n"
    )
    replace_file(server.config, with_retention)
    assert api_reload(server)["outcome"] == "applied"
    deadline = time.monotonic() + 10
    while deliveries.client().get(f"{server.url}/api/deliveries").json():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)


def test_reload_takes_the_token(server_factory: Callable[..., LiveServer], tmp_path: Path) -> None:
    path = "/api/reload"
    (tmp_path / "secret.txt").write_text(OLD_SECRET + "\n", encoding="utf-8")
    token = "a-token-long-enough-to-be-kept"
    server = server_factory(config_text([], extra_server=f"  token: {token}\n"), "--watch", "0")
    refused = httpx.post(f"{server.url}{path}")
    assert refused.status_code == 401
    allowed = httpx.post(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200 and allowed.json()["outcome"] == "unchanged"
    ran = server.hookd("reload", "--url", server.url)
    assert ran.stdout.startswith("unchanged: ")
