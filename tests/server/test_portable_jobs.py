"""Jobs on a live server where Linux's process calls are missing, as on macOS: hookd serve
runs with `os.pidfd_open` and prctl taken away and the containment's /proc pointed at
nothing. A job that exits, one that times out and one cancelled by a newer job end as on
Linux, with what stayed in their process group, and their logs say once what could not be
seen."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import deliveries
import httpx
import pytest

from conftest import LiveServer, write_config
from hookd.actions.job_processes import NO_PROC_NOTE
from leftovers import living, marker

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
hooks:
  leaves:
    on: milestone
    shell: true
    run: sleep {{ marker }} & echo started
  slow:
    on: label
    run: [sleep, "{{ marker }}"]
    timeout: 1s
  ci:
    on: member
    run: [sleep, "{{ seconds }}"]
    concurrency: {group: "ci-{{ repository.full_name }}", cancel-in-progress: true}
"""

# Runs `hookd ARGS` as macOS would: no pidfd, no /proc for the containment to read, no
# prctl (so hookd is no subreaper: what a job leaves goes to init, as to launchd).
WRAPPER = """\
import os, sys
del os.pidfd_open
from hookd import procctl
from hookd.actions import containment
procctl._LIBC = None
containment.PROC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "no-proc")
from hookd.cli import main
main()
"""


def start(directory: Path, timeout: float = 30) -> LiveServer:
    (directory / "portable.py").write_text(WRAPPER)
    output = directory / "server.log"
    with output.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, str(directory / "portable.py"), "serve",
             "--config", str(directory / "hookd.yaml"), "--port", "0", "--workers", "2"],
            cwd=directory, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"hookd serve exited:\n{output.read_text()}")
        found = re.search(r"listening on (http://\S+)", output.read_text())
        if found:
            try:
                if httpx.get(f"{found.group(1)}/healthz", timeout=1).status_code == 200:
                    return LiveServer(directory, process, found.group(1), output)
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"hookd serve did not come up:\n{output.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("portable")
    write_config(folder, CONFIG)
    live = start(folder)
    try:
        yield live
    finally:
        live.stop()


def run(server: LiveServer, event: str, payload: dict[str, object]) -> tuple[dict, str]:
    answer = deliveries.send(server, event, payload)
    (job,) = deliveries.wait_finished(server, answer["id"])
    return job, deliveries.hookd_output(server, "logs", job["id"]).decode()


def test_what_a_job_leaves_in_its_group_is_ended_when_it_exits(server: LiveServer) -> None:
    text = marker()
    job, log = run(server, "milestone", {"marker": text})
    assert job["status"] == "succeeded" and job["exit_code"] == 0, job
    assert log == "started\n" + NO_PROC_NOTE.decode()
    assert "no prctl here" in server.log()  # said at start, as on macOS
    deliveries.wait_until(lambda: not living(text), "the background sleep to end")


def test_a_job_that_times_out_is_ended(server: LiveServer) -> None:
    text = marker()
    job, log = run(server, "label", {"marker": text})
    assert job["status"] == "timed_out", job
    assert job["exit_code"] is not None
    assert log.count(NO_PROC_NOTE.decode()) == 1
    assert not living(text)


def test_a_running_job_is_cancelled_by_a_newer_one(server: LiveServer) -> None:
    text, repository = marker(), {"full_name": f"octo/{uuid.uuid4().hex}"}
    first = deliveries.send(server, "member", {"seconds": text, "repository": repository})
    deliveries.wait_until(lambda: living(text), "the first job to start")
    second = deliveries.send(server, "member", {"seconds": "0.1", "repository": repository})
    (cancelled,) = deliveries.wait_finished(server, first["id"])
    assert cancelled["status"] == "cancelled", cancelled
    assert cancelled["exit_code"] is not None  # it was running, and was stopped
    (newer,) = deliveries.wait_finished(server, second["id"])
    assert newer["status"] == "succeeded", newer
    assert not living(text)
