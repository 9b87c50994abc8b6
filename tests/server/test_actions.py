"""`forward:`, `mirror:` and `python:` actions on a live server, against a local HTTP
target, local bare git repositories and a handler module in the config's folder."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import deliveries
import pytest

from conftest import LiveServer, start_server, write_config

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    replay_window: 0
    forge: github
    secret: "It's a Secret to Everybody"
  gitlab:
    replay_window: 0
    forge: gitlab
    secret: gitlab-token-1
hooks:
  relay:
    endpoint: github
    on: gollum
    forward: {url: "@URL@/plain", original_signature: true}
  by-owner:
    endpoint: github
    on: star
    forward: "@URL@/owner/{{ repository.owner.login }}?from={{ repository.owner.login }}"
  resign:
    endpoint: github
    on: member
    forward: {url: "@URL@/resigned", secret: other}
  by-status:
    endpoint: github
    on: milestone
    forward: "@URL@/status/{{ code }}"
    retries: 1
  gl-relay:
    endpoint: gitlab
    on: push
    forward: {url: "@URL@/gitlab", secret: other-token}
  mirror:
    endpoint: github
    on: push
    mirror: {path: "@DIR@/mirror.git", push-to: "@DIR@/backup.git"}
  mirror-any:
    endpoint: github
    on: deployment
    mirror: {path: "@DIR@/any-{{ name }}.git"}
  py-sync:
    endpoint: github
    on: delete
    python: handlers:on_push
  py-async:
    endpoint: github
    on: watch
    python: handlers:on_push_async
  py-none:
    endpoint: github
    on: public
    python: handlers:nothing
  py-raises:
    endpoint: github
    on: fork
    python: handlers:broken
  py-exits:
    endpoint: github
    on: create
    python: handlers:exits
  py-async-exits:
    endpoint: github
    on: label
    python: handlers:exits_async
"""

HANDLERS = """\
import asyncio
import hashlib
import sys
import threading


def describe(delivery, how):
    digest = hashlib.sha256(delivery.body).hexdigest()
    return f"{how} {delivery.event} {delivery.payload['ref']} {delivery.delivery_id} {digest}"


def on_push(delivery):
    assert threading.current_thread() is not threading.main_thread()
    return describe(delivery, "sync")


async def on_push_async(delivery):
    await asyncio.sleep(0.01)
    return describe(delivery, "async")


def nothing(delivery):
    return None


def broken(delivery):
    raise RuntimeError("handler exploded")


def exits(delivery):
    sys.exit(delivery.payload["status"])


async def exits_async(delivery):
    await asyncio.sleep(0)
    sys.exit(delivery.payload["status"])
"""


@dataclass
class Request:
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass
class Target:
    """An HTTP server that records every POST and answers 200, or N for /status/N."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)

    def to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]


def serve_target() -> tuple[Target, ThreadingHTTPServer]:
    target = Target()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            target.requests.append(Request(self.path, list(self.headers.items()), body))
            status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    target.url = f"http://127.0.0.1:{http.server_address[1]}"
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return target, http


@dataclass(frozen=True)
class Setup:
    server: LiveServer
    target: Target
    folder: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("actions")
    target, http = serve_target()
    (folder / "handlers.py").write_text(HANDLERS)
    write_config(folder, CONFIG.replace("@URL@", target.url).replace("@DIR@", str(folder)))
    server = start_server(folder, "--workers", "2")
    try:
        yield Setup(server, target, folder)
    finally:
        server.stop()
        http.shutdown()
        http.server_close()


def run_one(setup: Setup, outgoing: deliveries.Outgoing) -> dict[str, Any]:
    """Deliver, and return the one job it ran once that job finished."""
    answer = deliveries.accept(setup.server, outgoing)
    assert len(answer["hooks"]) == 1, answer
    (job,) = deliveries.wait_finished(setup.server, answer["id"])
    return job


def hmac_hex(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, algorithm).hexdigest()


PAYLOAD = {"ref": "refs/heads/main", "after": "a" * 40, "message": "ünïcode ☃", "n": 1.0}


# --- forward ---------------------------------------------------------------------------


def test_forward_posts_the_raw_bytes_with_the_forge_headers(setup: Setup) -> None:
    outgoing = deliveries.github("gollum", PAYLOAD)
    # Bytes a JSON re-encoding would change: spacing, key order, escapes, 1.0.
    outgoing = deliveries.Outgoing(
        outgoing.path,
        b'{ "n": 1.0,\n  "ref": "refs/heads/main", "s": "\\u00e9\xc3\xa9" }',
        outgoing.headers,
    )
    outgoing.headers["X-Hub-Signature-256"] = "sha256=" + hmac_hex(deliveries.SECRET, outgoing.body)
    job = run_one(setup, outgoing)
    assert job["status"] == "succeeded", job
    assert job["result"] == f"{setup.target.url}/plain answered 200"
    (request,) = setup.target.to("/plain")
    assert request.body == outgoing.body
    for name in (
        "Content-Type", "User-Agent", "X-GitHub-Event", "X-GitHub-Delivery", "X-GitHub-Hook-ID",
        "X-Hub-Signature-256",
    ):  # fmt: skip
        assert request.header(name) == [outgoing.headers[name]], name


def test_forward_keeps_payload_text_in_the_path_and_drops_the_signature(setup: Setup) -> None:
    login = "127.0.0.1:18099/ssrf?#@evil.example"
    outgoing = deliveries.github("star", {"repository": {"owner": {"login": login}}})
    job = run_one(setup, outgoing)
    assert job["status"] == "succeeded", job
    encoded = "127.0.0.1%3A18099%2Fssrf%3F%23%40evil.example"
    (request,) = setup.target.to(f"/owner/{encoded}?from={encoded}")
    assert request.body == outgoing.body
    # Without original_signature: true (or secret:), no signature goes to the target.
    assert request.header("X-Hub-Signature-256") == []
    assert request.header("X-Hub-Signature") == []
    assert request.header("X-GitHub-Delivery") == [outgoing.delivery]


def test_forward_resigns_with_another_secret(setup: Setup) -> None:
    outgoing = deliveries.github("member", PAYLOAD)
    job = run_one(setup, outgoing)
    assert job["status"] == "succeeded", job
    (request,) = setup.target.to("/resigned")
    assert request.body == outgoing.body
    assert request.header("X-Hub-Signature-256") == ["sha256=" + hmac_hex("other", outgoing.body)]
    assert request.header("X-Hub-Signature") == ["sha1=" + hmac_hex("other", outgoing.body, "sha1")]
    assert request.header("X-GitHub-Delivery") == [outgoing.delivery]


def test_forward_of_a_gitlab_delivery_sends_the_other_token(setup: Setup) -> None:
    outgoing = deliveries.gitlab("Push Hook", {"object_kind": "push", "ref": "refs/heads/main"})
    job = run_one(setup, outgoing)
    assert job["status"] == "succeeded", job
    (request,) = setup.target.to("/gitlab")
    assert request.body == outgoing.body
    assert request.header("X-Gitlab-Token") == ["other-token"]
    assert request.header("X-Gitlab-Event") == ["Push Hook"]


def test_forward_retries_a_server_error(setup: Setup) -> None:
    job = run_one(setup, deliveries.github("milestone", {"code": 500}))
    assert (job["status"], job["attempts"]) == ("failed", 2), job
    assert job["error"] == f"{setup.target.url}/status/500 answered 500"
    assert len(setup.target.to("/status/500")) == 2


def test_forward_does_not_retry_a_client_error(setup: Setup) -> None:
    job = run_one(setup, deliveries.github("milestone", {"code": 404}))
    assert (job["status"], job["attempts"]) == ("failed", 1), job
    assert job["error"] == f"{setup.target.url}/status/404 answered 404"
    assert len(setup.target.to("/status/404")) == 1


# --- mirror ----------------------------------------------------------------------------


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
         *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def commit(work: Path, name: str) -> str:
    (work / name).write_text(f"{name}\n")
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"add {name}", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def push_of(origin: Path, sha: str) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "after": sha,
        "repository": {"full_name": "octo/repo", "clone_url": str(origin)},
    }


def test_mirror_keeps_a_mirror_and_a_backup_up_to_date(setup: Setup, tmp_path: Path) -> None:
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git("init", "-q", "--bare", str(origin))
    git("init", "-q", str(backup := setup.folder / "backup.git"), "--bare")
    git("init", "-q", str(work))
    git("remote", "add", "origin", str(origin), cwd=work)
    mirror = setup.folder / "mirror.git"

    first = commit(work, "one.txt")
    job = run_one(setup, deliveries.github("push", push_of(origin, first)))
    assert job["status"] == "succeeded", job
    assert git("--git-dir", str(mirror), "rev-parse", "main") == first
    assert git("--git-dir", str(backup), "rev-parse", "main") == first

    second = commit(work, "two.txt")
    job = run_one(setup, deliveries.github("push", push_of(origin, second)))
    assert job["status"] == "succeeded", job
    assert git("--git-dir", str(mirror), "rev-parse", "main") == second
    assert git("--git-dir", str(backup), "rev-parse", "main") == second
    output = deliveries.hookd_output(setup.server, "logs", job["id"]).decode()
    assert "remote update --prune" in output  # the second run updated, not re-cloned


def test_mirror_jobs_for_one_mirror_take_turns(setup: Setup, tmp_path: Path) -> None:
    """Pushes in quick succession run at once on two workers; they must not race on the
    clone (`destination path already exists`) or its config (`could not lock`)."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git("init", "-q", "--bare", str(origin))
    git("init", "-q", str(work))
    git("remote", "add", "origin", str(origin), cwd=work)
    sha = commit(work, "one.txt")
    payload = {"name": "together", "repository": {"full_name": "x/y", "clone_url": str(origin)}}
    answers = deliveries.accept_all(
        setup.server, [deliveries.github("deployment", payload) for _ in range(4)]
    )
    for answer in answers:
        (job,) = deliveries.wait_finished(setup.server, answer["id"])
        assert job["status"] == "succeeded", (job, setup.server.log())
    assert git("--git-dir", str(setup.folder / "any-together.git"), "rev-parse", "main") == sha


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% @MARKS@/PWNED",  # git's ext transport runs a command
        "--upload-pack=touch @MARKS@/PWNED",  # an option, if it were taken for one
        "-u touch @MARKS@/PWNED",
    ],
)
def test_mirror_of_a_hostile_clone_url_fails_and_runs_nothing(
    setup: Setup, tmp_path: Path, url: str
) -> None:
    url = url.replace("@MARKS@", str(tmp_path))
    name = hashlib.sha1(url.encode()).hexdigest()[:8]
    payload = {"name": name, "repository": {"full_name": "x/y", "clone_url": url}}
    job = run_one(setup, deliveries.github("deployment", payload))
    assert job["status"] == "failed", job
    assert list(tmp_path.iterdir()) == []
    assert not (setup.folder / f"any-{name}.git" / "HEAD").exists()


# --- python ----------------------------------------------------------------------------


@pytest.mark.parametrize(("event", "how"), [("delete", "sync"), ("watch", "async")])
def test_python_handler_result_is_the_jobs_result(setup: Setup, event: str, how: str) -> None:
    outgoing = deliveries.github(event, PAYLOAD)
    job = run_one(setup, outgoing)
    assert job["status"] == "succeeded", job
    digest = hashlib.sha256(outgoing.body).hexdigest()
    assert job["result"] == f"{how} {event} refs/heads/main {outgoing.delivery} {digest}"


def test_python_handler_returning_nothing_has_no_result(setup: Setup) -> None:
    job = run_one(setup, deliveries.github("public", PAYLOAD))
    assert (job["status"], job["result"]) == ("succeeded", None), job


def test_python_handler_that_raises_fails_the_job(setup: Setup) -> None:
    job = run_one(setup, deliveries.github("fork", PAYLOAD))
    assert job["status"] == "failed", job
    assert job["error"] == "handlers:broken raised RuntimeError: handler exploded"


@pytest.mark.parametrize(
    ("event", "spec"), [("create", "handlers:exits"), ("label", "handlers:exits_async")]
)
def test_python_handler_calling_sys_exit_ends_the_job_not_hookd(
    setup: Setup, event: str, spec: str
) -> None:
    failed = run_one(setup, deliveries.github(event, {"status": 3}))
    assert failed["status"] == "failed", failed
    assert failed["error"] == f"{spec} called sys.exit(3)"
    succeeded = run_one(setup, deliveries.github(event, {"status": 0}))
    assert succeeded["status"] == "succeeded", succeeded
    assert setup.server.process.poll() is None
    assert deliveries.client().get(f"{setup.server.url}/healthz").status_code == 200
