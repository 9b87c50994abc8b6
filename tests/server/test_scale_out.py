"""Scale-out on PostgreSQL with real processes: two `hookd serve --workers 0` receivers and
two `hookd worker` processes on one database. Jobs append a line to a file (`>>` opens it
with O_APPEND), so the file tells how often each job really ran.

The four processes are started once for the module (starting them is most of the cost);
each test looks only at the deliveries it sent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import deliveries
import httpx
import psycopg
import pytest

import pg  # the PostgreSQL server fixture, shared by every test folder
from conftest import LiveServer, start_server, write_config

postgres_fixture = pg.postgres_fixture

LEASE_SECONDS = 2
CONFIG = """
server:
  port: 0
  database: {database}
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
hooks:
  record:
    on: push
    shell: true
    run: echo "$HOOKD_DELIVERY $HOOKD_ATTEMPT" >> ran.txt
    cwd: {directory}
  slow:
    on: release
    shell: true
    run: >-
      echo "start $HOOKD_DELIVERY $HOOKD_ATTEMPT $PPID $$" >> slow.txt; sleep 3;
      echo "done $HOOKD_DELIVERY $HOOKD_ATTEMPT" >> slow.txt
    cwd: {directory}
"""
PUSH = {"ref": "refs/heads/main", "after": "c0ffee", "repository": {"full_name": "octo/hello"}}
FINISHED = ("succeeded", "failed", "timed_out", "cancelled")


@dataclass
class Deployment:
    directory: Path
    database: str
    receivers: list[LiveServer]
    workers: list[subprocess.Popen[bytes]]

    def jobs(self, sent: Sequence[deliveries.Outgoing]) -> list[tuple[str, int]]:
        """(status, attempts) of the jobs of these deliveries."""
        with psycopg.connect(self.database.split("?")[0]) as connection:
            rows = connection.execute(
                "SELECT j.status, j.attempts FROM jobs j JOIN deliveries d ON d.id = j.delivery_id "
                "WHERE d.delivery = ANY(%s)",
                ([item.delivery for item in sent],),
            ).fetchall()
        return [(status, attempts) for status, attempts in rows]

    def ran(self, sent: Sequence[deliveries.Outgoing]) -> list[str]:
        """The lines the `record` hook wrote for these deliveries."""
        ids = {item.delivery for item in sent}
        return [line for line in self.lines("ran.txt") if line.split()[0] in ids]

    def lines(self, name: str) -> list[str]:
        path = self.directory / name
        return path.read_text().splitlines() if path.exists() else []

    def logs(self) -> str:
        parts = [server.log() for server in self.receivers]
        parts += [path.read_text() for path in sorted(self.directory.glob("worker*.log"))]
        return "\n---\n".join(parts)

    def wait_finished(self, sent: Sequence[deliveries.Outgoing]) -> list[tuple[str, int]]:
        def finished() -> list[tuple[str, int]] | None:
            jobs = self.jobs(sent)
            done = len(jobs) == len(sent) and all(status in FINISHED for status, _ in jobs)
            return jobs if done else None

        try:
            found: list[tuple[str, int]] = wait_until(finished, "the jobs to finish", timeout=90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None
        return found


def wait_until(
    predicate: Callable[[], Any], what: str, process: subprocess.Popen[bytes] | None = None,
    timeout: float = 30,
) -> Any:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited while waiting for {what}")
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_worker(directory: Path, name: str) -> subprocess.Popen[bytes]:
    output = directory / f"{name}.log"
    with output.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "hookd", "worker", "--config", str(directory / "hookd.yaml"),
             "--workers", "4", "--lease-seconds", str(LEASE_SECONDS)],
            cwd=directory, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_until(lambda: "job workers on" in output.read_text(), f"{name} to start", process)
    return process


@pytest.fixture(scope="module")
def deployment(postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Two receivers and two workers on a fresh database; all stopped afterwards."""
    directory = tmp_path_factory.mktemp("scale-out")
    database = postgres.new_database() + "?timeout=1"
    config = CONFIG.format(database=database, directory=directory)
    folders = [directory / f"receiver{n}" for n in range(2)]
    for folder in (directory, *folders):
        folder.mkdir(exist_ok=True)
        write_config(folder, config)
    with ThreadPoolExecutor(4) as pool:
        receivers = pool.map(lambda folder: start_server(folder, "--workers", "0"), folders)
        workers = pool.map(lambda n: start_worker(directory, f"worker{n}"), range(2))
        running = Deployment(directory, database, list(receivers), list(workers))
    try:
        yield running
    finally:
        for server in running.receivers:
            server.stop(signal.SIGKILL)
        for process in running.workers:
            process.kill()
            process.wait()


async def post_all(urls: list[str], outgoing: list[deliveries.Outgoing]) -> list[httpx.Response]:
    """Post each delivery to `urls[i % len(urls)]`, 32 at a time."""
    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=30) as client:

        async def post(index: int, item: deliveries.Outgoing) -> httpx.Response:
            async with limit:
                url = urls[index % len(urls)] + item.path
                return await client.post(url, content=item.body, headers=item.headers)

        return await asyncio.gather(*(post(n, item) for n, item in enumerate(outgoing)))


def test_each_of_500_deliveries_runs_its_job_exactly_once(deployment: Deployment) -> None:
    sent = [deliveries.github("push", PUSH) for _ in range(500)]
    urls = [server.url for server in deployment.receivers]
    responses = asyncio.run(post_all(urls, sent))
    assert Counter(response.status_code for response in responses) == {202: 500}
    assert Counter(deployment.wait_finished(sent)) == {("succeeded", 1): 500}
    assert sorted(deployment.ran(sent)) == sorted(f"{item.delivery} 1" for item in sent)


def test_a_delivery_raced_to_both_receivers_is_accepted_once(deployment: Deployment) -> None:
    raced = [deliveries.github("push", PUSH) for _ in range(20)]
    for item in raced:
        barrier = threading.Barrier(2)

        def post(server: LiveServer, item: deliveries.Outgoing = item) -> httpx.Response:
            barrier.wait()
            return deliveries.post(server, item)

        with ThreadPoolExecutor(2) as pool:
            answers = sorted(pool.map(post, deployment.receivers), key=lambda r: r.status_code)
        assert [answer.status_code for answer in answers] == [200, 202]
        assert answers[0].json()["status"] == "duplicate"
        assert answers[0].json()["id"] == answers[1].json()["id"]
    assert Counter(deployment.wait_finished(raced)) == {("succeeded", 1): 20}
    assert sorted(deployment.ran(raced)) == sorted(f"{item.delivery} 1" for item in raced)


def start_slow_job(deployment: Deployment) -> tuple[deliveries.Outgoing, subprocess.Popen[bytes]]:
    """Send a delivery for the `slow` hook; return it and the worker process running it
    once its job started (the job writes its worker's pid, `$PPID`)."""
    release = deliveries.github("release", {"action": "published", "repository": {}})
    deliveries.accept(deployment.receivers[0], release)
    started = wait_until(lambda: slow_lines(deployment, release), "the slow job to start")
    worker_pid = int(started[0].split()[2])
    return release, next(p for p in deployment.workers if p.pid == worker_pid)


def slow_lines(deployment: Deployment, release: deliveries.Outgoing) -> list[str]:
    """The `slow` hook's lines for this delivery, without the delivery id."""
    prefix = f" {release.delivery} "
    return [line.replace(prefix, " ", 1) for line in deployment.lines("slow.txt") if prefix in line]


def replace_worker(deployment: Deployment, gone: subprocess.Popen[bytes]) -> None:
    index = deployment.workers.index(gone)
    name = f"worker-replacing-{gone.pid}"
    deployment.workers[index] = start_worker(deployment.directory, name)


def test_a_killed_workers_job_is_finished_by_the_other(deployment: Deployment) -> None:
    release, victim = start_slow_job(deployment)
    survivor = next(p for p in deployment.workers if p is not victim)
    job_group = int(slow_lines(deployment, release)[0].split()[3])
    victim.kill()
    victim.wait()
    os.killpg(job_group, signal.SIGKILL)  # its orphaned job, so it cannot finish too
    try:
        assert deployment.wait_finished([release]) == [("succeeded", 2)]
        lines = slow_lines(deployment, release)
        assert lines[0].startswith(f"start 1 {victim.pid} ")
        assert lines[1].startswith(f"start 2 {survivor.pid} ") and lines[2:] == ["done 2"]
    finally:
        replace_worker(deployment, victim)


def test_a_stopped_worker_lets_its_running_job_finish(deployment: Deployment) -> None:
    release, worker = start_slow_job(deployment)
    worker.send_signal(signal.SIGTERM)
    try:
        assert worker.wait(30) == 0
        assert slow_lines(deployment, release)[-1] == "done 1"  # finished before it exited
        assert deployment.jobs([release]) == [("succeeded", 1)]
    finally:
        replace_worker(deployment, worker)


def test_deliveries_get_503_while_the_database_is_down(
    deployment: Deployment, postgres: Any
) -> None:
    receiver = deployment.receivers[1]
    during = deliveries.github("push", PUSH)
    postgres.stop()
    try:
        assert httpx.get(f"{receiver.url}/readyz", timeout=10).status_code == 503
        refused = deliveries.post(receiver, during)
        assert refused.status_code == 503, refused.text
        assert "redeliver" in refused.json()["error"]
    finally:
        postgres.start()
    wait_until(
        lambda: httpx.get(f"{receiver.url}/readyz", timeout=10).status_code == 200,
        "/readyz to answer 200 again",
    )
    deliveries.accept(receiver, during)  # 202, not a duplicate: nothing was half-stored
    assert deployment.wait_finished([during]) == [("succeeded", 1)]
    assert deployment.ran([during]) == [f"{during.delivery} 1"]


def test_worker_says_in_one_line_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = f"postgresql://hookd:s3cret@127.0.0.1:{pg.free_port()}/hookd"
    write_config(tmp_path, CONFIG.format(database=url, directory=tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "hookd", "worker", "--config", str(tmp_path / "hookd.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("hookd: cannot connect to postgresql://hookd:***@127.0.0.1")
    assert len(result.stderr.strip().splitlines()) == 1 and "s3cret" not in result.stderr
