"""Payload values reach a `run:` command as data, never as code: branch names, commit
messages and titles full of shell syntax arrive byte for byte as single arguments (or, with
`shell: true`, as variables the shell never parses), and nothing they name is run. The
process gets the delivery's facts in HOOKD_* variables and the raw body, and none of
hookd's own secrets."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import deliveries
import pytest

from conftest import LiveServer, start_server, write_config

SECRET = "supersecret-xyz"

RECORD = """\
import json, os, sys

record = {
    "argv": sys.argv[1:],
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "stdin": sys.stdin.buffer.read().hex(),
    "payload_file": open(os.environ["HOOKD_PAYLOAD"], "rb").read().hex(),
}
name = os.path.join(
    os.environ["RECORD_DIR"], os.environ["HOOKD_DELIVERY"] + "-" + os.environ["HOOKD_HOOK"]
)
with open(name + ".tmp", "w") as file:
    json.dump(record, file)
os.replace(name + ".tmp", name + ".json")
"""

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    forge: github
    secret: ${GH_SECRET}
hooks:
  words:
    on: push
    run: [python3, record.py, "{{ ref }}", "{{ head_commit.message }}", "{{ pull_request.title }}"]
    cwd: @WORK@
    env: {RECORD_DIR: "@OUT@"}
  string:
    on: push
    run: python3 record.py {{ ref }} "{{ head_commit.message }}"
    cwd: @WORK@
    env: {RECORD_DIR: "@OUT@"}
  shell:
    on: push
    shell: true
    run: >-
      printf "%s" "{{ ref }}" > "ref-$HOOKD_DELIVERY.txt";
      printf "%s" "{{ head_commit.message }}" > "msg-$HOOKD_DELIVERY.txt"
    cwd: @SHELL@
"""

# `pwn` is on the server's PATH: if any of these ever ran it, it leaves a file in MARKS.
PWN = """#!/bin/sh
echo "pwn ran: $*" >> "@MARKS@/pwn-ran"
"""

NASTY: dict[str, tuple[str, str]] = {
    # name: (branch name, commit message)
    "command-substitution": ("$(touch PWNED)", "$(touch @MARKS@/PWNED-1) $(pwn)"),
    "backticks": ("`touch PWNED`", "`pwn` and `touch @MARKS@/PWNED-2`"),
    "semicolon": ("main;pwn", "fix; pwn; touch PWNED"),
    "pipe": ("main|pwn", "x | pwn | tee PWNED"),
    "and-or": ("a&&pwn||pwn", "ok && pwn || touch PWNED"),
    "newlines": ("main\npwn", "line one\n\npwn\r\ntouch PWNED\n"),
    "ifs": ("${IFS}pwn${IFS}", "x${IFS}&&${IFS}pwn"),
    "quotes": ('it\'s"q"', 'say "hi" \'there\' \\" \\\' ` "'),
    "glob": ("*", "* ?  [a-z]* ~ ~/.ssh/* record.py"),
    "variables": ("$HOME", "$HOOKD_DELIVERY ${GH_SECRET} $0 %s %n"),
    "template": ("{{ 7 * 7 }}", "{% for x in range(3) %}{{ x }}{% endfor %} {{ hookd }}"),
    # A value that would *start* an option fails its job (test_job_containment.py).
    "options": ("--help", "x -rf / --upload-pack=pwn"),
    "empty": ("main", ""),
    "unicode": ("brånch/☃", "ünïcödé\t tab ☃ 🎉"),
    "redirects": ("a>PWNED", "<PWNED >PWNED 2>&1 >>PWNED"),
}
HOOKS = ("words", "string", "shell")


@dataclass(frozen=True)
class Folders:
    root: Path
    work: Path
    shell: Path
    out: Path
    marks: Path


@dataclass(frozen=True)
class Run:
    """What the module's server was sent, and what the jobs recorded."""

    server: LiveServer
    folders: Folders
    sent: dict[str, deliveries.Outgoing]
    answers: dict[str, dict[str, Any]]
    jobs: list[dict[str, Any]]


def marks(text: str, folders: Folders) -> str:
    return text.replace("@MARKS@", str(folders.marks))


def push_payload(ref: str, message: str) -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{ref}",
        "before": "0" * 40,
        "after": "1234567890abcdef1234567890abcdef12345678",
        "repository": {"full_name": "octo/site", "name": "site"},
        "sender": {"login": "mallory"},
        "pull_request": {"title": f"PR {message}"},
        "head_commit": {"id": "1234567890abcdef1234567890abcdef12345678", "message": message},
        "commits": [],
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("injection")
    folders = Folders(root, root / "work", root / "shell", root / "out", root / "marks")
    for folder in (folders.work, folders.shell, folders.out, folders.marks, root / "bin"):
        folder.mkdir()
    (folders.work / "record.py").write_text(RECORD)
    pwn = root / "bin" / "pwn"
    pwn.write_text(marks(PWN, folders))
    pwn.chmod(0o755)
    config = (
        CONFIG.replace("@WORK@", str(folders.work))
        .replace("@SHELL@", str(folders.shell))
        .replace("@OUT@", str(folders.out))
    )
    write_config(root, config)
    env = {
        "GH_SECRET": SECRET,
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOOKD_LOG_FORMAT": "text",  # one of hookd's own settings: not for jobs either
    }
    server = start_server(root, "--workers", "2", env=env)
    try:
        sent = {
            name: deliveries.github(
                "push", push_payload(marks(ref, folders), marks(message, folders)), secret=SECRET
            )
            for name, (ref, message) in NASTY.items()
        }
        answers = dict(zip(sent, deliveries.accept_all(server, list(sent.values()))))
        assert all(answer["hooks"] == list(HOOKS) for answer in answers.values())
        jobs = deliveries.wait_for_jobs(
            server,
            lambda jobs: (
                len(jobs) == len(HOOKS) * len(NASTY)
                and all(job["status"] in deliveries.FINISHED for job in jobs)
            ),
            timeout=40,
        )
        yield Run(server, folders, sent, answers, jobs)
    finally:
        server.stop()


def record(run: Run, name: str, hook: str) -> dict[str, Any]:
    path = run.folders.out / f"{run.sent[name].delivery}-{hook}.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.mark.parametrize("name", NASTY)
def test_payload_values_arrive_as_single_plain_arguments(run: Run, name: str) -> None:
    ref, message = (marks(text, run.folders) for text in NASTY[name])
    jobs = [job for job in run.jobs if job["delivery_id"] == run.answers[name]["id"]]
    assert sorted(job["hook"] for job in jobs) == sorted(HOOKS)
    assert {job["status"] for job in jobs} == {"succeeded"}, jobs
    assert record(run, name, "words")["argv"] == [f"refs/heads/{ref}", message, f"PR {message}"]
    assert record(run, name, "string")["argv"] == [f"refs/heads/{ref}", message]
    delivery = run.sent[name].delivery
    shell_ref = (run.folders.shell / f"ref-{delivery}.txt").read_bytes()
    shell_message = (run.folders.shell / f"msg-{delivery}.txt").read_bytes()
    assert shell_ref == f"refs/heads/{ref}".encode()
    assert shell_message == message.encode()


def test_nothing_named_in_a_payload_ran(run: Run) -> None:
    assert list(run.folders.marks.iterdir()) == []  # no PWNED-n, and `pwn` never ran
    pwned = [path for path in run.folders.root.rglob("*") if "PWNED" in path.name]
    assert pwned == []
    assert not (Path(tempfile.gettempdir()) / "PWNED").exists()
    # A glob in a value was not expanded either: the work folder holds only record.py.
    assert sorted(path.name for path in run.folders.work.iterdir()) == ["record.py"]
    expected = {f"ref-{o.delivery}.txt" for o in run.sent.values()}
    expected |= {f"msg-{o.delivery}.txt" for o in run.sent.values()}
    assert {path.name for path in run.folders.shell.iterdir()} == expected


@pytest.mark.parametrize("hook", ["words", "string"])
def test_process_gets_the_delivery_facts_and_raw_body(run: Run, hook: str) -> None:
    for name, (ref, _) in NASTY.items():
        outgoing = run.sent[name]
        seen = record(run, name, hook)
        env = seen["env"]
        assert env["HOOKD_EVENT"] == "push"
        assert env["HOOKD_ACTION"] == ""
        assert env["HOOKD_HOOK"] == hook
        assert env["HOOKD_DELIVERY"] == outgoing.delivery
        assert env["HOOKD_REPOSITORY"] == "octo/site"
        assert env["HOOKD_REF"] == f"refs/heads/{marks(ref, run.folders)}"
        assert env["HOOKD_SHA"] == "1234567890abcdef1234567890abcdef12345678"
        assert env["RECORD_DIR"] == str(run.folders.out)
        assert seen["cwd"] == str(run.folders.work)
        assert bytes.fromhex(seen["stdin"]) == outgoing.body
        assert bytes.fromhex(seen["payload_file"]) == outgoing.body
        # The payload file lives in the job's own folder, removed when the job ended.
        assert not Path(env["HOOKD_PAYLOAD"]).exists()


def test_hookds_own_secrets_are_not_inherited(run: Run) -> None:
    for name in NASTY:
        for hook in ("words", "string"):
            env = record(run, name, hook)["env"]
            assert "GH_SECRET" not in env
            assert "HOOKD_LOG_FORMAT" not in env
            leaked = {key: value for key, value in env.items() if SECRET in value}
            assert leaked == {}
    # ...while the rest of the server's environment is (PATH found `python3` and `pwn`).
    assert str(run.folders.root / "bin") in record(run, "empty", "words")["env"]["PATH"]


def test_shell_true_leaves_payload_values_to_variables(run: Run) -> None:
    """`$HOOKD_DELIVERY` in a message is not expanded, though the variable is set."""
    delivery = run.sent["variables"].delivery
    message = (run.folders.shell / f"msg-{delivery}.txt").read_text()
    assert message == "$HOOKD_DELIVERY ${GH_SECRET} $0 %s %n"
    assert delivery not in message


def test_a_nul_byte_in_a_value_fails_the_job_and_runs_nothing(run: Run) -> None:
    outgoing = deliveries.github("push", push_payload("main", "a\x00b"), secret=SECRET)
    answer = deliveries.accept(run.server, outgoing)
    jobs = deliveries.wait_finished(run.server, answer["id"], count=len(HOOKS))
    for job in jobs:
        assert job["status"] == "failed", job
        assert "NUL" in job["error"]
        assert job["exit_code"] is None
    assert not list(run.folders.out.glob(f"{outgoing.delivery}-*"))
    assert not list(run.folders.shell.glob(f"*-{outgoing.delivery}.txt"))
