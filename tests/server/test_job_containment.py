"""A job does only what its hook says, on a live server, tried as someone who can push
branches or open pull requests would: a branch named like an option fails its job; `cwd:`
and `mirror:` paths cannot leave the config's folder; a forward's host cannot come from a
template; what a job leaves running is ended when it ends (unless `keep_background`); and
after `kill -9` of hookd the retry starts only once the first attempt's processes are gone.
"""

from __future__ import annotations

import re
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import deliveries
import pytest

from conftest import LiveServer, run_hookd, start_server, write_config
from hookd.actions.containment import read_stat
from leftovers import kill_living, living, marker

HOSTILE_BRANCH = "refs/heads/--upload-pack=touch${IFS}pwned;"

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    forge: github
    secret: "It's a Secret to Everybody"
hooks:
  fetch:
    on: star
    run: git fetch origin {{ ref | branch }}
    cwd: @DIR@/work
  fetch-after-dashes:
    on: star
    run: git fetch origin -- {{ ref | branch }}
    cwd: @DIR@/work
  in-site:
    on: create
    run: [python3, -c, "import os; open('where', 'w').write(os.getcwd())"]
    cwd: "@DIR@/sites/{{ repository.name }}"
  mirror:
    on: watch
    mirror: "@DIR@/mirrors/{{ repository.full_name }}"
  background:
    on: label
    shell: true
    run: sleep {{ marker }} & echo started
  setsid:
    on: gollum
    run: setsid sleep {{ marker }}
  daemon:
    on: member
    run: [python3, "@DIR@/daemon.py", "{{ marker }}"]
  all-then-timeout:
    on: milestone
    shell: true
    run: >-
      sleep {{ marker }} & setsid -f sleep {{ marker }};
      python3 @DIR@/daemon.py {{ marker }}; sleep 60
    timeout: 1s
  kept:
    on: public
    keep_background: true
    shell: true
    run: >-
      sleep {{ marker }} & setsid -f sleep {{ marker }};
      python3 @DIR@/daemon.py {{ marker }}
"""

DAEMON = """\
import os, sys
if os.fork():
    sys.exit(0)
os.setsid()
if os.fork():
    os._exit(0)
devnull = os.open(os.devnull, os.O_RDWR)
for descriptor in (0, 1, 2):
    os.dup2(devnull, descriptor)
os.execvp("sleep", ["sleep", sys.argv[1]])
"""


def git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
         *args],
        cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("contain")
    (folder / "daemon.py").write_text(DAEMON)
    (folder / "sites" / "site").mkdir(parents=True)
    git("init", "-q", "--bare", str(folder / "origin.git"))
    git("clone", "-q", str(folder / "origin.git"), str(folder / "seed"))
    git("commit", "-q", "--allow-empty", "-m", "first", cwd=folder / "seed")
    git("push", "-q", "origin", "main", cwd=folder / "seed")
    git("clone", "-q", str(folder / "origin.git"), str(folder / "work"))
    write_config(folder, CONFIG.replace("@DIR@", str(folder)))
    live = start_server(folder, "--workers", "2")
    try:
        yield live
    finally:
        live.stop()


def jobs_of(server: LiveServer, event: str, payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Send a delivery and wait for its jobs to finish; they are returned by hook."""
    answer = deliveries.send(server, event, payload)
    jobs = deliveries.wait_finished(server, answer["id"], count=len(answer["hooks"]))
    return {job["hook"]: job for job in jobs}


def logs(server: LiveServer, job: dict[str, Any]) -> str:
    return deliveries.hookd_output(server, "logs", job["id"]).decode()


def zombies_of(pid: int) -> list[int]:
    stats = (
        read_stat(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit()
    )
    return [stat.pid for stat in stats if stat and stat.ppid == pid and stat.state == "Z"]


@pytest.fixture
def markers() -> Iterator[list[str]]:
    """Markers whose processes are killed after the test, whatever happened."""
    made: list[str] = []
    yield made
    kill_living(made)


# --- options --------------------------------------------------------------------------------


def test_a_branch_named_like_an_option_fails_its_job_and_runs_nothing(server: LiveServer) -> None:
    jobs = jobs_of(server, "star", {"ref": HOSTILE_BRANCH})
    fetch = jobs["fetch"]
    assert (fetch["status"], fetch["exit_code"]) == ("failed", None), fetch
    assert fetch["error"] == (
        "command 'git fetch origin {{ ref | branch }}': the word '{{ ref | branch }}' renders "
        "'--upload-pack=touch${IFS}pwned;', which starts with '-' and would be read as an "
        "option; write -- before the arguments that come from the payload "
        "(e.g. git fetch origin -- {{ ref | branch }})"
    )
    # After --, git takes it as the name of a branch, which origin does not have.
    after = jobs["fetch-after-dashes"]
    assert (after["status"], after["exit_code"]) == ("failed", 128), after
    assert "couldn't find remote ref --upload-pack=touch${IFS}pwned;" in logs(server, after)
    assert not [path for path in Path("/").glob("tmp/**/pwned") if path.exists()]
    assert not list(server.directory.rglob("pwned"))


def test_commands_after_a_double_dash_still_run(server: LiveServer) -> None:
    jobs = jobs_of(server, "star", {"ref": "refs/heads/main"})
    assert {hook: job["status"] for hook, job in jobs.items()} == {
        "fetch": "succeeded",
        "fetch-after-dashes": "succeeded",
    }


# --- paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../../../etc", "/etc", "..", "a\u0000b"])
def test_a_cwd_from_the_payload_cannot_leave_the_configs_folder(
    server: LiveServer, name: str
) -> None:
    job = jobs_of(server, "create", {"repository": {"name": name}})["in-site"]
    assert job["status"] == "failed", job
    assert job["error"].startswith(f"cwd: '{server.directory}/sites/{{{{ repository.name }}}}' ")
    assert not list(server.directory.rglob("where"))
    assert not Path("/etc/where").exists()


def test_a_cwd_inside_the_configs_folder_runs_there(server: LiveServer) -> None:
    job = jobs_of(server, "create", {"repository": {"name": "site"}})["in-site"]
    assert job["status"] == "succeeded", job
    where = server.directory / "sites" / "site" / "where"
    assert where.read_text() == str(where.parent)
    where.unlink()


def test_a_mirror_cannot_be_cloned_outside_the_configs_folder(server: LiveServer) -> None:
    escaped = Path(f"/tmp/escaped-{uuid.uuid4().hex}")
    origin = str(server.directory / "origin.git")
    full_name = f"../../../../../../..{escaped}"
    payload = {"repository": {"full_name": full_name, "clone_url": origin}}
    job = jobs_of(server, "watch", payload)["mirror"]
    assert job["status"] == "failed", job
    assert "a '..' segment after its first template would leave" in job["error"]
    assert not escaped.exists()
    assert not (server.directory / "mirrors").exists()


def test_a_mirror_folder_is_a_safe_form_of_the_repository_name(server: LiveServer) -> None:
    origin = str(server.directory / "origin.git")
    payload = {"repository": {"full_name": "octo/s ite;$(x)", "clone_url": origin}}
    job = jobs_of(server, "watch", payload)["mirror"]
    assert job["status"] == "succeeded", job
    assert job["result"] == str(server.directory / "mirrors" / "octo" / "s_ite___x_")
    assert (server.directory / "mirrors" / "octo" / "s_ite___x_" / "HEAD").exists()


# --- forward ------------------------------------------------------------------------------


FORWARD_CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github: {forge: github, secret: s}
hooks:
  relay:
    on: push
    forward: http://{{ repository.owner.login }}.hooks.example/x
  both:
    on: push
    forward:
      url: "http://hooks.example/{{ repository.name }}"
      secret: t
      original_signature: true
"""

REFUSED = (
    "hooks.relay.forward.url: the scheme, host and port must be written out: a template may "
    "stand only in the path or the query, after the '/' that ends the host"
)


def test_a_forward_host_from_a_template_is_refused_by_check_and_at_start(
    tmp_path: Path,
) -> None:
    write_config(tmp_path, FORWARD_CONFIG)
    checked = run_hookd(
        "check", "--config", str(tmp_path / "hookd.yaml"), cwd=tmp_path, check=False
    )
    assert checked.returncode == 1
    assert f"hookd.yaml:10: {REFUSED}" in checked.stderr
    assert (
        "hookd.yaml:16: hooks.both.forward.original_signature: give secret (sign anew) or "
        "original_signature: true (send the delivery's own), not both"
    ) in checked.stderr
    served = run_hookd(
        "serve", "--config", str(tmp_path / "hookd.yaml"), "--port", "0", cwd=tmp_path, check=False
    )
    assert served.returncode != 0
    assert REFUSED in served.stdout + served.stderr


# --- nothing outlives its job -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["background", "setsid", "daemon"])
def test_what_a_job_leaves_running_is_ended_when_it_ends(
    server: LiveServer, markers: list[str], kind: str
) -> None:
    text = marker()
    markers.append(text)
    event = {"background": "label", "setsid": "gollum", "daemon": "member"}[kind]
    job = jobs_of(server, event, {"marker": text})[kind]
    assert job["status"] == "succeeded", job
    assert living(text) == []
    assert re.search(
        r"^\[hookd: ended pid \d+ \(.+\), left running by the job\]$", logs(server, job), re.M
    )
    assert zombies_of(server.process.pid) == []


def test_what_a_job_leaves_running_is_ended_when_it_times_out(
    server: LiveServer, markers: list[str]
) -> None:
    text = marker()
    markers.append(text)
    job = jobs_of(server, "milestone", {"marker": text})["all-then-timeout"]
    assert (job["status"], job["error"]) == ("timed_out", "timed out after 1s"), job
    assert living(text) == []
    assert logs(server, job).count("), left running by the job]\n") >= 3


def test_keep_background_leaves_them_running_as_hookds_children(
    server: LiveServer, markers: list[str]
) -> None:
    text = marker()
    markers.append(text)
    job = jobs_of(server, "public", {"marker": text})["kept"]
    assert job["status"] == "succeeded", job
    kept = living(text)
    assert len(kept) == 3, kept  # `sleep &`, the setsid one, the daemon's
    # Their parents exited: hookd, the subreaper, is their parent now, not init.
    assert {stat.ppid for stat in map(read_stat, kept) if stat} == {server.process.pid}
    assert "[hookd: ended" not in logs(server, job)


# --- after kill -9 ------------------------------------------------------------------------


LOCKED = """\
import fcntl, os, subprocess, sys, time
folder = sys.argv[1]
attempt = os.environ["HOOKD_ATTEMPT"]
lock = open(os.path.join(folder, "lock"), "a")
def note(what):
    with open(os.path.join(folder, "spans.txt"), "a") as file:
        file.write(f"{what} {attempt} {os.getpid()} {time.time():.6f}\\n")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    note("overlap")
    sys.exit(1)
note("start")
if attempt == "1":
    # A daemon that holds the lock too: the lock is free only once both are gone.
    subprocess.Popen(["setsid", "sleep", sys.argv[2]], pass_fds=(lock.fileno(),))
    time.sleep(300)
note("end")
"""

LOCKED_CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    forge: github
    secret: "It's a Secret to Everybody"
hooks:
  locked:
    on: push
    run: [python3, "@DIR@/locked.py", "@DIR@", "{{ marker }}"]
    retries: 1
"""


def spans(folder: Path) -> list[list[str]]:
    path = folder / "spans.txt"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_after_kill_9_the_retry_starts_only_once_the_first_attempt_is_gone(
    server_factory: Callable[..., LiveServer], tmp_path: Path, markers: list[str]
) -> None:
    text = marker()
    markers.append(text)
    (tmp_path / "locked.py").write_text(LOCKED)
    config = LOCKED_CONFIG.replace("@DIR@", str(tmp_path))
    first = server_factory(config, "--workers", "1", "--lease-seconds", "2")
    answer = deliveries.send(first, "push", {"ref": "refs/heads/main", "marker": text})
    deliveries.wait_until(lambda: spans(tmp_path) and living(text), "attempt 1 and its daemon")
    first.stop(signal.SIGKILL)
    (start,) = spans(tmp_path)
    orphans = [int(start[2]), *living(text)]
    again = server_factory("", "--workers", "1", "--lease-seconds", "2", directory=tmp_path)
    (job,) = deliveries.wait_finished(again, answer["id"], timeout=30)
    assert (job["status"], job["attempts"]) == ("succeeded", 2), job
    assert [line[:2] for line in spans(tmp_path)] == [["start", "1"], ["start", "2"], ["end", "2"]]
    assert [pid for pid in orphans if read_stat(pid) and read_stat(pid).state != "Z"] == []
    output = logs(again, job)
    assert output.count("left by attempt 1]\n") == 2, output
    assert f"[hookd: ended pid {orphans[0]} (" in output
