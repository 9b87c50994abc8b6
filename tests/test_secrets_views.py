"""Secrets stay secret on a live server: what a job can read of hookd's process, and what
`hookd show`, the API and the dashboard show of a delivery's secret headers and of the
secret old Gitea/Gogs put in their bodies (the stored bytes stay as sent)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer, start_server, write_config
from hookd.core.signatures import sign
from hookd.store import store_for

WEBHOOK_SECRET = f"webhook-{uuid.uuid4().hex}"
DASHBOARD_TOKEN = f"token-{uuid.uuid4().hex}"
GITEA_SECRET = f"gitea-{uuid.uuid4().hex}"
EXTRA_SECRET = f"extra-{uuid.uuid4().hex}"
SECRETS = (WEBHOOK_SECRET, DASHBOARD_TOKEN, GITEA_SECRET, EXTRA_SECRET)
# Each line of the job's output is one variable; the job prints hookd's environment as the
# kernel shows it, through $PPID and through hookd's pid, which the test writes to pid.txt.
READ_ENVIRON = (
    "echo parent $PPID $(cat pid.txt); tr '\\0' '\\n' </proc/$PPID/environ; echo hookd; "
    "tr '\\0' '\\n' </proc/$(cat pid.txt)/environ; echo cmdline; "
    "tr '\\0' ' ' </proc/$(cat pid.txt)/cmdline; echo; echo end"
)
CONFIG = f"""
server:
  port: 0
  database: sqlite:///hookd.db
  token: ${{HOOKD_TOKEN}}
endpoints:
  github:
    forge: github
    secret: ${{GITHUB_WEBHOOK_SECRET}}
  gitea:
    forge: gitea
    secret: ${{GITEA_WEBHOOK_SECRET}}
hooks:
  spy:
    endpoint: github
    on: push
    shell: true
    run: {json.dumps(READ_ENVIRON)}
  body:
    endpoint: gitea
    on: push
    shell: true
    run: sha256sum
"""
ENV = {
    "HOOKD_TOKEN": DASHBOARD_TOKEN,
    "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "GITEA_WEBHOOK_SECRET": GITEA_SECRET,
    "UNRELATED_SECRET": EXTRA_SECRET,
}
BEARER = {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}
# Headers a view must not show, and one it must.
SECRET_HEADERS = {
    "X-Api-Key": "k-" + EXTRA_SECRET,
    "X-My-Password": "p-" + EXTRA_SECRET,
    "X-Deploy-Token": "t-" + EXTRA_SECRET,
    "Authorization": "Bearer a-" + EXTRA_SECRET,
    "Cookie": "session=c-" + EXTRA_SECRET,
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("secrets")
    write_config(folder, CONFIG)
    server = start_server(folder, env=ENV)
    (folder / "pid.txt").write_text(str(server.process.pid))
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


def api(server: LiveServer, path: str) -> Any:
    answer = httpx.get(f"{server.url}{path}", headers=BEARER, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def finished_job(server: LiveServer, delivery_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        jobs = api(server, f"/api/deliveries/{delivery_id}")["job_details"]
        if jobs and jobs[0]["status"] in ("succeeded", "failed"):
            return jobs[0]  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"the job of {delivery_id} did not finish")


def post_github(server: LiveServer, payload: dict[str, Any]) -> str:
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + sign(WEBHOOK_SECRET.encode(), body),
        "Content-Type": "application/json",
    }
    answer = httpx.post(f"{server.url}/hooks/github", content=body, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def post_gitea(server: LiveServer, body: bytes) -> str:
    headers = {
        "X-Gitea-Event": "push",
        "X-Gitea-Delivery": str(uuid.uuid4()),
        "X-Gitea-Signature": sign(GITEA_SECRET.encode(), body),
        "Content-Type": "application/json",
        **SECRET_HEADERS,
    }
    answer = httpx.post(f"{server.url}/hooks/gitea", content=body, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def gitea_body(padding: int = 0) -> bytes:
    """An old Gitea push: the webhook's secret as a top-level member, as Gitea sent it."""
    payload = {
        "secret": GITEA_SECRET,
        "ref": "refs/heads/main",
        "repository": {"full_name": "acme/site"},
        "padding": "x" * padding,
    }
    return json.dumps(payload).encode()


def test_a_job_reads_nothing_secret_of_hookds_environment(live: LiveServer) -> None:
    delivery_id = post_github(live, {"ref": "refs/heads/main", "repository": {"full_name": "a/b"}})
    job = finished_job(live, delivery_id)
    output = live.hookd("logs", job["id"]).stdout
    assert output.startswith("parent ") and output.rstrip().endswith("end"), output
    for secret in SECRETS:
        assert secret not in output
    # Nothing else of the block is left either; hookd itself still reads its variables.
    assert Path(f"/proc/{live.process.pid}/environ").read_bytes().strip(b"\0") == b""
    assert "hookd serve" in output.split("cmdline\n")[1]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not Path("/usr/bin/python3").exists(),
    reason="needs root to run hookd's hardening as another user",
)
def test_a_same_user_job_may_not_open_hookds_environ_mem_or_maps() -> None:
    """Run as nobody: a child of the same user is refused what a dumpable process allows."""
    script = (
        "import subprocess; from hookd.process_hardening import harden; print(harden());"
        "print(subprocess.run(['sh', '-c', 'for f in environ mem maps; do "
        "cat /proc/$PPID/$f >/dev/null && echo read $f; done; true'],"
        " capture_output=True, text=True))"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    ran = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "env", f"PYTHONPATH={src}", f"SPY={EXTRA_SECRET}", "/usr/bin/python3", "-c", script],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("[]"), ran.stdout
    for name in ("environ", "mem", "maps"):
        assert f"read {name}" not in ran.stdout
    assert ran.stdout.count("Permission denied") == 3, ran.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="what a root job may do needs root")
def test_a_root_job_may_not_read_hookds_memory() -> None:
    """Run as root, a child keeps root's other powers but not CAP_SYS_PTRACE, so hookd's
    memory is refused to it; hookd itself keeps the capability."""
    reader = (
        "import os, sys; mem = open(f'/proc/{os.getppid()}/mem', 'rb'); mem.seek(int(sys.argv[1]));"
        "print('read', mem.read(8).hex())"
    )
    script = (
        "import json, subprocess; from hookd.process_hardening import harden;"
        "problems = harden(); here = b'held by hookd';"
        "own = open('/proc/self/status').read().split('CapEff:')[1].split()[0];"
        f"child = subprocess.run(['python3', '-c', {reader!r}, str(id(here))],"
        " capture_output=True, text=True);"
        "caps = subprocess.run(['grep', 'CapEff', '/proc/self/status'], capture_output=True,"
        " text=True).stdout;"
        "print(json.dumps([problems, own, child.stdout + child.stderr, caps]))"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    ran = subprocess.run(
        ["python3", "-c", script], capture_output=True, text=True, timeout=60, cwd="/",
        env={**os.environ, "PYTHONPATH": str(src)},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    problems, own, child, caps = json.loads(ran.stdout)
    ptrace = 1 << 19
    assert problems == []
    assert int(own, 16) & ptrace
    assert "Permission denied" in child and "read " not in child, child
    assert not int(caps.split()[-1], 16) & ptrace, caps


def views(live: LiveServer, delivery_id: str) -> dict[str, str]:
    """Every view of one delivery, as text."""
    with httpx.Client(base_url=live.url, timeout=30) as client:
        signed_in = client.post("/login", data={"token": DASHBOARD_TOKEN, "next": "/"})
        assert signed_in.status_code == 303, signed_in.text
        page = client.get(f"/deliveries/{delivery_id}")
        assert page.status_code == 200
    return {
        "show": live.hookd("show", delivery_id).stdout,
        "show --json": live.hookd("show", delivery_id, "--json").stdout,
        "api": httpx.get(
            f"{live.url}/api/deliveries/{delivery_id}", headers=BEARER, timeout=30
        ).text,
        "dashboard": page.text,
    }


@pytest.mark.parametrize("padding", [0, 1024 * 1024], ids=["small", "past-the-raw-view-cut"])
def test_every_view_redacts_the_same_headers_and_the_payloads_secret(
    live: LiveServer, padding: int
) -> None:
    body = gitea_body(padding)
    delivery_id = post_gitea(live, body)
    for view, text in views(live, delivery_id).items():
        for secret in SECRETS:
            assert secret not in text, f"{view} shows {secret}"
        # Authorization and Cookie are never stored; the others are listed, values hidden.
        for name in ("X-Api-Key", "X-My-Password", "X-Deploy-Token", "X-Gitea-Signature"):
            assert name.lower() in text.lower(), f"{view} does not list {name}"
        assert "[redacted]" in text
        assert "acme/site" in text, f"{view} lost the rest of the payload"

    # What hookd stored, and what the job got on stdin, is the body as sent.
    async def stored() -> bytes | None:
        store = store_for(f"sqlite:///{live.directory / 'hookd.db'}")
        await store.open()
        try:
            return (await store.get_delivery(delivery_id)).body
        finally:
            await store.close()

    assert asyncio.run(stored()) == body
    job = finished_job(live, delivery_id)
    assert hashlib.sha256(body).hexdigest() in live.hookd("logs", job["id"]).stdout
