"""Jobs on a live server: they survive a crash and a shutdown, are retried, timed out and
killed with their children, serialised by concurrency groups, and their output is kept in
order, capped, followed and replayed."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import deliveries
import pytest

from conftest import LiveServer, start_server, write_config

SCRIPTS = {
    # Fails until its counter file reaches 2.
    "flaky.py": """\
import sys
from pathlib import Path
counter = Path(sys.argv[1])
count = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(count))
print(f"attempt {count}", flush=True)
sys.exit(0 if count >= 2 else 1)
""",
    # Starts a child that ignores SIGTERM and carries `marker` in its argv, then sleeps.
    "spawn.py": """\
import subprocess, sys, time
child = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
subprocess.Popen([sys.executable, "-c", child, sys.argv[1]])
print("spawned", flush=True)
time.sleep(30)
""",
    # Appends `start`/`end` lines with the time, the job and the pid to a file.
    "span.py": """\
import os, sys, time
def note(what):
    line = f"{what} {time.time():.6f} {os.environ['HOOKD_JOB']} {os.getpid()}\\n"
    with open(sys.argv[1], "a") as file:
        file.write(line)
note("start")
time.sleep(float(sys.argv[2]))
note("end")
""",
    "touch.py": "import sys; open(sys.argv[1], 'w').close()\n",
    "chatty.py": """\
import sys
for i in range(50):
    print(f"out {i}", flush=True)
    print(f"err {i}", file=sys.stderr, flush=True)
""",
    # Prints two lines, waits for the test to create `go`, then prints three more.
    "gated.py": """\
import os, sys, time
print("starting", flush=True)
time.sleep(0.02)
print("waiting", flush=True)
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.05)
for i in range(3):
    print(f"line {i}", flush=True)
    time.sleep(0.1)
""",
    "append.py": "import os, sys\nopen(sys.argv[1], 'a').write(os.environ['HOOKD_JOB'] + '\\n')\n",
}

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
  flaky:
    on: delete
    run: [python3, "@S@/flaky.py", "{{ counter }}"]
    retries: 2
  doomed:
    on: member
    run: [python3, -c, "import sys; print('no'); sys.exit(3)"]
    retries: 1
  sleeper:
    on: milestone
    run: [sleep, "{{ seconds }}"]
    timeout: 1s
  spawner:
    on: public
    run: [python3, "@S@/spawn.py", "{{ marker }}"]
    timeout: 1s
  deploy:
    on: watch
    run: [python3, "@S@/span.py", "{{ spans }}", "{{ seconds }}"]
    concurrency: {group: deploy}
  ci:
    on: release
    run: [python3, "@S@/span.py", "{{ spans }}", "{{ seconds }}"]
    concurrency: {group: "ci-{{ repository.full_name }}", cancel-in-progress: true}
  missing:
    on: label
    run: [python3, "@S@/touch.py", "{{ marker }}", "{{ nope.missing }}"]
  chatty:
    on: fork
    run: [python3, "@S@/chatty.py"]
  flood:
    on: deployment
    run: [python3, -c, "import sys; sys.stdout.write('x' * (1536 * 1024))"]
  gated:
    on: star
    run: [python3, "@S@/gated.py", "{{ go }}"]
  again:
    on: gollum
    run: [python3, "@S@/append.py", "{{ file }}"]
"""

LOG_NOTE = "\n[hookd: output cut here: the job's log is capped at 1048576 bytes]\n"


def write_scripts(folder: Path) -> None:
    for name, text in SCRIPTS.items():
        (folder / name).write_text(text)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("jobs")
    write_scripts(folder)
    write_config(folder, CONFIG.replace("@S@", str(folder)))
    live = start_server(folder, "--workers", "2")
    try:
        yield live
    finally:
        live.stop()


def only_job(server: LiveServer, event: str, payload: dict[str, Any]) -> tuple[str, str]:
    """Send a delivery that runs one hook; return (delivery id, job id)."""
    answer = deliveries.send(server, event, payload)
    assert len(answer["hooks"]) == 1, answer
    (job,) = deliveries.list_jobs(server, delivery=answer["id"])
    return answer["id"], job["id"]


def finished(server: LiveServer, delivery: str, timeout: float = deliveries.DEADLINE) -> dict:
    (job,) = deliveries.wait_finished(server, delivery, timeout=timeout)
    return job


def logs(server: LiveServer, job: str) -> str:
    """What `hookd logs JOB` prints."""
    return deliveries.hookd_output(server, "logs", job).decode()


def lines_of(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# --- crash and shutdown: each needs a server of its own --------------------------------

SLOW = """\
import os, sys, time
def note(what):
    with open("slow.txt", "a") as file:
        file.write(f"{what} {os.environ['HOOKD_ATTEMPT']} {os.getpid()}\\n")
note("start")
time.sleep(float(sys.argv[1]))
note("end")
"""

SLOW_CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
hooks:
  slow:
    on: push
    run: [python3, slow.py, "{{ seconds }}"]
    cwd: @DIR@
"""


def started_slow(
    factory: Callable[..., LiveServer], folder: Path, seconds: float, *extra: str
) -> tuple[LiveServer, str]:
    """A server in `folder` whose one job has started and will run `seconds`."""
    (folder / "slow.py").write_text(SLOW)
    server = factory(SLOW_CONFIG.replace("@DIR@", str(folder)), "--workers", "2", *extra)
    answer = deliveries.send(server, "push", {"ref": "refs/heads/main", "seconds": seconds})
    deliveries.wait_until(lambda: lines_of(folder / "slow.txt"), "the job to start")
    return server, answer["id"]


def test_job_running_when_the_server_is_killed_runs_again_after_restart(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    first, delivery = started_slow(server_factory, tmp_path, 3, "--lease-seconds", "2")
    first.stop(signal.SIGKILL)
    (start,) = lines_of(tmp_path / "slow.txt")
    orphan = int(start[2])
    try:
        again = server_factory("", "--workers", "2", "--lease-seconds", "2", directory=tmp_path)
        job = finished(again, delivery, timeout=20)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 2
        starts = [line for line in lines_of(tmp_path / "slow.txt") if line[0] == "start"]
        assert [line[1] for line in starts] == ["1", "2"]  # HOOKD_ATTEMPT of each run
        assert ["end", "2", starts[1][2]] in lines_of(tmp_path / "slow.txt")
    finally:
        # hookd died with kill -9, so nothing stopped the first attempt's process.
        if os.path.exists(f"/proc/{orphan}"):
            os.kill(orphan, signal.SIGKILL)


def test_sigterm_lets_a_running_job_finish_before_exiting(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server, delivery = started_slow(server_factory, tmp_path, 1.5)
    server.process.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once it has shut down gracefully.
    assert server.process.wait(20) in (0, -signal.SIGTERM), server.log()
    # By the time the process exited, the job had ended and its outcome was recorded.
    assert [line[0] for line in lines_of(tmp_path / "slow.txt")] == ["start", "end"]
    (job,) = deliveries.list_jobs(server, delivery=delivery)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1


# --- the shared server -----------------------------------------------------------------


def test_failing_job_is_retried_to_success(server: LiveServer, tmp_path: Path) -> None:
    delivery, job_id = only_job(server, "delete", {"counter": str(tmp_path / "counter")})
    job = finished(server, delivery)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    assert job["max_attempts"] == 3
    assert job["exit_code"] == 0
    assert job["error"] is None
    output = logs(server, job_id)
    assert output.startswith("attempt 1\n")
    assert "[hookd: attempt 1 of 3 ended: exited with status 1; next attempt in " in output
    assert output.endswith("attempt 2\n")


def test_job_failing_every_attempt_ends_failed(server: LiveServer) -> None:
    delivery, _ = only_job(server, "member", {})
    job = finished(server, delivery)
    assert (job["status"], job["attempts"], job["exit_code"]) == ("failed", 2, 3)
    assert job["error"] == "exited with status 3"


def test_timeout_stops_the_job(server: LiveServer) -> None:
    seconds = f"30.{uuid.uuid4().int % 10**9:09d}"  # `sleep 30`, told apart from any other
    delivery, _ = only_job(server, "milestone", {"seconds": seconds})
    job = finished(server, delivery)
    assert job["status"] == "timed_out", job
    assert job["error"] == "timed out after 1s"
    assert job["attempts"] == 1
    assert processes_with(seconds) == []


def test_timeout_kills_the_whole_process_group(server: LiveServer) -> None:
    marker = f"hookd-test-child-{uuid.uuid4()}"
    delivery, job_id = only_job(server, "public", {"marker": marker})
    job = finished(server, delivery)
    assert job["status"] == "timed_out", job
    output = logs(server, job_id)
    assert output.startswith("spawned\n[hookd: ended pid "), output
    assert output.endswith(f"{marker}), left running by the job]\n"), output
    # The child ignored SIGTERM and outlived its parent; the SIGKILL after it still got it.
    deliveries.wait_until(lambda: not processes_with(marker), "the child to be gone", timeout=3)


def spans(path: Path) -> dict[str, tuple[float, float | None]]:
    """Each job's (start, end) from span.py's lines; end is None if it never ended."""
    runs: dict[str, list[float | None]] = {}
    for what, at, job, _pid in lines_of(path):
        runs.setdefault(job, [None, None])[0 if what == "start" else 1] = float(at)
    return {job: (start, end) for job, (start, end) in runs.items() if start is not None}


def test_concurrency_group_runs_one_job_at_a_time(server: LiveServer, tmp_path: Path) -> None:
    record = tmp_path / "spans.txt"
    delivered = [
        deliveries.send(server, "watch", {"spans": str(record), "seconds": 0.5})["id"]
        for _ in range(3)
    ]
    jobs = [finished(server, delivery) for delivery in delivered]
    ids = {job["id"] for job in jobs}
    ran = spans(record)
    assert jobs[-1]["status"] == "succeeded"  # the newest is never replaced
    for job in jobs:
        assert job["concurrency_group"] == "deploy"
        if job["status"] == "cancelled":
            # GitHub Actions' rule: a newer queued job replaces an older queued one.
            found = re.fullmatch(
                r"replaced by a newer job in its concurrency group \((.+)\)", job["error"]
            )
            assert found and found[1] in ids - {job["id"]}, job
            assert job["id"] not in ran and job["started_at"] is None
        else:
            assert job["status"] == "succeeded", job
            assert job["id"] in ran
    assert len(ran) == sum(job["status"] == "succeeded" for job in jobs)
    intervals = sorted(ran.values())
    assert all(end is not None for _, end in intervals)
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert end <= start, f"runs overlap: {intervals}"


def test_cancel_in_progress_cancels_the_running_job(server: LiveServer, tmp_path: Path) -> None:
    record = tmp_path / "spans.txt"
    repository = {"full_name": f"octo/{uuid.uuid4().hex}"}
    first, first_job = only_job(
        server, "release", {"spans": str(record), "seconds": 30, "repository": repository}
    )
    deliveries.wait_until(lambda: lines_of(record), "the first job to start")
    ((_, _, _, pid),) = lines_of(record)
    second, second_job = only_job(
        server, "release", {"spans": str(record), "seconds": 0.1, "repository": repository}
    )
    cancelled = finished(server, first)
    assert cancelled["status"] == "cancelled", cancelled
    assert "cancel" in cancelled["error"]
    assert cancelled["exit_code"] is not None  # it was running, and was stopped
    assert finished(server, second)["status"] == "succeeded"
    ran = spans(record)
    assert ran[first_job][1] is None  # never got to its end
    assert ran[second_job][0] >= time.time() - 60
    assert not Path(f"/proc/{pid}").exists()


def test_template_naming_a_missing_key_fails_and_runs_nothing(
    server: LiveServer, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    delivery, job_id = only_job(server, "label", {"marker": str(marker)})
    job = finished(server, delivery)
    assert job["status"] == "failed", job
    assert "'nope' is undefined" in job["error"]
    assert job["attempts"] == 1 and job["exit_code"] is None
    assert not marker.exists()
    assert logs(server, job_id) == ""


def test_stdout_and_stderr_are_kept_in_order(server: LiveServer) -> None:
    delivery, job_id = only_job(server, "fork", {})
    assert finished(server, delivery)["status"] == "succeeded"
    expected = "".join(f"out {i}\nerr {i}\n" for i in range(50))
    assert logs(server, job_id) == expected
    assert server.hookd("logs", job_id).stdout == expected  # the program, byte for byte


def test_log_is_capped_at_one_mebibyte_with_a_note(server: LiveServer) -> None:
    delivery, job_id = only_job(server, "deployment", {})
    job = finished(server, delivery)
    assert job["status"] == "succeeded", job
    output = logs(server, job_id)
    assert output == "x" * 1024 * 1024 + LOG_NOTE
    assert job["log_size"] == len(output)


def test_output_followed_by_silence_shows_while_the_job_runs(
    server: LiveServer, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    delivery, job_id = only_job(server, "star", {"go": str(go)})
    try:
        deliveries.wait_until(
            lambda: logs(server, job_id) == "starting\nwaiting\n", "the output", timeout=5
        )
        assert deliveries.list_jobs(server, delivery=delivery)[0]["status"] == "running"
    finally:
        go.touch()
    assert finished(server, delivery)["status"] == "succeeded"


def test_logs_follow_ends_when_the_job_ends(server: LiveServer, tmp_path: Path) -> None:
    go = tmp_path / "go"
    delivery, job_id = only_job(server, "star", {"go": str(go)})
    command = [sys.executable, "-m", "hookd", "logs", job_id, "--follow"]
    with subprocess.Popen(
        [*command, "--config", str(server.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follow:
        deadline = threading.Timer(deliveries.DEADLINE, follow.kill)
        deadline.start()
        try:
            assert follow.stdout is not None and follow.stderr is not None
            # Following a job that is still running, and waiting for `go`:
            assert follow.stdout.readline() == "starting\n"
            assert follow.stdout.readline() == "waiting\n"
            go.touch()
            rest, err = follow.stdout.read(), follow.stderr.read()
            follow.wait()
        finally:
            deadline.cancel()
            go.touch()
            follow.kill()
    assert follow.returncode == 0, err
    assert rest == "line 0\nline 1\nline 2\n"
    assert f"[job {job_id} succeeded]" in err
    assert finished(server, delivery)["status"] == "succeeded"


def test_replay_records_a_new_delivery_and_runs_the_hook_again(
    server: LiveServer, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.txt"
    original, first_job = only_job(server, "gollum", {"file": str(runs)})
    finished(server, original)
    replayed = deliveries.hookd_json(server, "replay", original)
    assert replayed["replay_of"] == original
    assert replayed["id"] != original
    assert replayed["hooks"] == ["again"]
    (job,) = deliveries.wait_finished(server, replayed["id"])
    assert job["status"] == "succeeded", job
    assert job["id"] == replayed["jobs"][0] != first_job
    assert runs.read_text().split() == [first_job, job["id"]]
    shown = deliveries.hookd_json(server, "show", replayed["id"])
    assert shown["replay_of"] == original
    assert shown["payload"] == deliveries.hookd_json(server, "show", original)["payload"]
