"""A delivery the forge failed to make while hookd was stopped is asked for again when
hookd starts, arrives (the forge posts the original signed bytes again) and runs its job;
one hookd holds is not asked for, and a second catch-up asks for nothing. Real `hookd
serve` processes on loopback, restarted on one SQLite file; the forge is `FakeHooks`."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_hooks import GITHUB_TOKEN, GITLAB_SECRET, GITLAB_TOKEN, SECRET, FakeHooks

from conftest import LiveServer, hookd_here, start_server, write_config

GITHUB_HOOK = "/repos/octo/hello/hooks/7"
GITLAB_HOOK = "/projects/15/hooks/3"
CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    forge: github
    secret: "{secret}"
    api_url: {forge}
    api_token: {github_token}
    catch_up: {{interval: 1h}}
  gitlab:
    forge: gitlab
    secret: {gitlab_secret}
    api_url: {forge}
    api_token: {gitlab_token}
    catch_up:
      interval: 1h
      hooks:
        - project: 15
          id: 3
hooks:
  github_push:
    endpoint: github
    on: push
    shell: true
    run: echo "$HOOKD_DELIVERY" >> ran.txt
    cwd: {directory}
  gitlab_push:
    endpoint: gitlab
    on: push
    shell: true
    run: echo "$HOOKD_DELIVERY" >> ran.txt
    cwd: {directory}
"""
PUSH = {"ref": "refs/heads/main", "after": "c0ffee", "repository": {"full_name": "octo/hello"}}


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ran(directory: Path) -> list[str]:
    file = directory / "ran.txt"
    return file.read_text().split() if file.exists() else []


@pytest.fixture
def forge() -> Iterator[FakeHooks]:
    with FakeHooks(hooks={GITHUB_HOOK, GITLAB_HOOK}) as fake:
        yield fake


@pytest.fixture
def serving(tmp_path: Path, forge: FakeHooks) -> Iterator[Callable[[], LiveServer]]:
    write_config(
        tmp_path,
        CONFIG.format(
            secret=SECRET, gitlab_secret=GITLAB_SECRET, forge=forge.url,
            github_token=GITHUB_TOKEN, gitlab_token=GITLAB_TOKEN, directory=tmp_path,
        ),
    )  # fmt: skip
    started: list[LiveServer] = []

    def start() -> LiveServer:
        server = start_server(tmp_path, "--workers", "1")
        forge.target = server.url
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


def deliver(forge: FakeHooks, kind: str, **kw: Any) -> str:
    if kind == "github":
        return forge.github(GITHUB_HOOK, "push", PUSH, **kw)
    return forge.gitlab(GITLAB_HOOK, PUSH, **kw)


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_delivery_missed_while_stopped_arrives_after_the_next_start(
    kind: str,
    forge: FakeHooks,
    serving: Callable[[], LiveServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = serving()
    delivered = deliver(forge, kind)
    # The forge timed out waiting for this one, but hookd stored it: held, not asked for.
    held = deliver(forge, kind, recorded=504)
    wait_for(lambda: {delivered, held} <= set(ran(tmp_path)), "the jobs of the first two")
    server.stop()

    missed = deliver(forge, kind)  # nothing listens: the forge records a failure
    assert forge.attempts[GITHUB_HOOK if kind == "github" else GITLAB_HOOK][-1]["status"] == 0
    forge.seen.clear()

    server = serving()
    wait_for(lambda: missed in ran(tmp_path), "the missed delivery's job", timeout=20)
    posts = forge.posts()
    assert len(posts) == 1, posts
    hook = GITHUB_HOOK if kind == "github" else GITLAB_HOOK
    asked = next(a for a in forge.attempts[hook] if a["key"] == missed)["id"]
    suffix = "attempts" if kind == "github" else "resend"
    assert posts[0].path.endswith(f"/{asked}/{suffix}")
    assert sorted(ran(tmp_path)) == sorted([delivered, held, missed])

    forge.settle()
    again = hookd_here(capsys, "catch-up", "--config", str(server.config))
    assert "requested 0" in again.out, again.out
    assert len(forge.posts()) == 1

    records = httpx.get(f"{server.url}/api/catch-up", timeout=5).json()
    assert [(r["delivery"], r["outcome"], r["arrived"]) for r in records] == [
        (missed, "requested", True)
    ]
    assert records[0]["forge"] == kind
    page = httpx.get(f"{server.url}/catch-up", timeout=5)
    assert page.status_code == 200
    assert missed in page.text
    metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
    assert f'hookd_catch_up_requests_total{{forge="{kind}",outcome="requested"}} 1.0' in metrics


def test_while_serving_catch_up_runs_every_interval(forge: FakeHooks, tmp_path: Path) -> None:
    """... and an endpoint without a token says why it cannot, once."""
    write_config(
        tmp_path,
        f"""
        server:
          port: 0
          database: sqlite:///hookd.db
        endpoints:
          github:
            forge: github
            secret: x
            catch_up: {{interval: 1s}}
          gitlab:
            forge: gitlab
            secret: {GITLAB_SECRET}
            api_url: {forge.url}
            api_token: {GITLAB_TOKEN}
            catch_up:
              interval: 1s
              hooks: [{{project: 15, id: 3}}]
        hooks: {{}}
        """,
    )
    server = start_server(tmp_path, "--workers", "0")
    try:
        forge.target = server.url
        # The catch-up at start and the next one an interval later have asked, before
        # anything failed (counting after the failure could count one catch-up that was
        # already under way, and found it, as two).
        wait_for(lambda: len(forge.listings(GITLAB_HOOK)) >= 2, "two catch-ups")
        # hookd answered 503 (say, its database was away): the forge recorded a failure.
        missed = forge.gitlab(GITLAB_HOOK, PUSH, recorded=503, post=False)
        wait_for(lambda: forge.posts(), "the next catch-up to ask for it")
        records = wait_for(
            lambda: [
                r for r in httpx.get(f"{server.url}/api/catch-up", timeout=5).json() if r["arrived"]
            ],
            "the redelivery to arrive",
        )
    finally:
        server.stop()
    assert [(r["delivery"], r["outcome"]) for r in records] == [(missed, "requested")]
    skipped = [line for line in server.log().splitlines() if "catch-up skipped" in line]
    assert len(skipped) == 1, skipped
    assert "endpoint 'github': it has no api_token (one that may read and write" in skipped[0]
