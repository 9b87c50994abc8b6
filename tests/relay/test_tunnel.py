"""`hookd serve --tunnel ngrok [--register OWNER/NAME]` without ngrok's cloud: no token
(hookd still serves locally), the real ngrok SDK failing against a closed loopback port,
and a fake tunnel provider with a fixed URL plus a local server answering like GitHub's
REST API for the register-on-start / deactivate-on-exit path."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from relaying import HOOKD_CONFIG, FakeGitHub, Live

from hookd.config import Config, load_config
from hookd.relay import RelayError, TunnelError
from hookd.relay.github_hooks import HookOwner, plan_registration
from hookd.relay.tunnel import (
    NGROK_SETUP_HINT,
    NgrokOpener,
    TunnelRegistration,
    serve_hooks,
    tunnel_hook,
)

TOKEN = "ghp_test_token"
REPO = "/repos/octo/hello"
PATHS = {"github": "/hooks/github"}


@dataclass
class FakeTunnel:
    url: str
    closed: bool = False

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeOpener:
    """A tunnel provider that hands out the URLs it is given, on ngrok's domain."""

    urls: list[str]
    name: str = "fake"
    opened: list[FakeTunnel] = field(default_factory=list)

    async def open(self, address: str) -> FakeTunnel:
        tunnel = FakeTunnel(self.urls.pop(0))
        self.opened.append(tunnel)
        return tunnel

    def owns(self, url: str) -> bool:
        return NgrokOpener(None).owns(url)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def tunnel_log() -> Iterator[Lines]:
    logger = logging.getLogger("hookd.tunnel")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKEN, owners=(REPO,)) as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, github: FakeGitHub) -> Config:
    text = HOOKD_CONFIG.replace(
        '    secret: "It\'s a Secret to Everybody"\n',
        f'    secret: "It\'s a Secret to Everybody"\n    api_url: {github.url}\n',
    ).replace("hooks: {}", 'hooks:\n  deploy:\n    on: push\n    run: "true"')
    path = tmp_path / "hookd.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, {})


def registration(
    config: Config, opener: FakeOpener, repo: str = "octo/hello"
) -> TunnelRegistration:
    owner = HookOwner.parse(repo, None)
    plan = plan_registration(config, owner, environ={"GITHUB_TOKEN": TOKEN})
    return TunnelRegistration(plan, opener.owns)


async def serve_once(opener: FakeOpener, config: Config, github: FakeGitHub) -> list[str]:
    """Enter and leave the tunnel hook; the fake GitHub's writes while it was open."""
    hook = tunnel_hook(opener, "127.0.0.1:8080", PATHS, registration(config, opener))
    async with hook():
        writes = [f"{call.method} {call.path}" for call in github.writes()]
    return writes


def test_points_the_webhook_at_the_tunnel_on_start_and_deactivates_it_on_exit(
    config: Config, github: FakeGitHub, tunnel_log: Lines
) -> None:
    opener = FakeOpener(["https://a1b2.ngrok-free.app"])
    while_open = asyncio.run(serve_once(opener, config, github))

    assert while_open == [f"POST {REPO}/hooks"]
    created, deactivated = github.writes()
    assert created.authorization == f"Bearer {TOKEN}"
    assert created.body["config"]["url"] == "https://a1b2.ngrok-free.app/hooks/github"
    assert created.body["active"] is True
    assert created.body["events"] == ["push"]
    assert (deactivated.method, deactivated.path) == ("PATCH", f"{REPO}/hooks/101")
    assert deactivated.body == {"active": False}
    assert opener.opened[0].closed
    assert "POST https://a1b2.ngrok-free.app/hooks/github" in tunnel_log.text()
    assert "deactivated" in tunnel_log.text()


def test_each_new_tunnel_url_repoints_the_same_webhook(config: Config, github: FakeGitHub) -> None:
    opener = FakeOpener(["https://first.ngrok-free.app", "https://second.ngrok-free.app"])
    asyncio.run(serve_once(opener, config, github))
    github.calls.clear()
    while_open = asyncio.run(serve_once(opener, config, github))

    assert while_open == [f"PATCH {REPO}/hooks/101"]
    [hook] = github.hooks[REPO]
    assert hook["config"]["url"] == "https://second.ngrok-free.app/hooks/github"
    assert hook["active"] is False, "deactivated again on exit"
    repointed = github.writes()[0].body
    assert repointed["active"] is True
    assert repointed["config"]["url"] == "https://second.ngrok-free.app/hooks/github"


def test_a_hook_on_another_host_is_left_alone(config: Config, github: FakeGitHub) -> None:
    kept = github.add(REPO, "https://prod.example.com/hooks/github", ["push"])
    opener = FakeOpener(["https://a1b2.ngrok-free.app"])
    asyncio.run(serve_once(opener, config, github))
    assert [hook["id"] for hook in github.hooks[REPO]] == [kept, kept + 1]
    assert github.hooks[REPO][0]["active"] is True


def test_a_failed_registration_is_logged_and_the_tunnel_still_serves(
    config: Config, github: FakeGitHub, tunnel_log: Lines
) -> None:
    opener = FakeOpener(["https://a1b2.ngrok-free.app"])
    hook = tunnel_hook(opener, "127.0.0.1:8080", PATHS, registration(config, opener, "octo/gone"))

    async def run() -> None:
        async with hook():
            pass

    asyncio.run(run())
    assert (
        "not pointed at the tunnel: could not list the webhooks of octo/gone" in tunnel_log.text()
    )
    assert "GitHub answered 404" in tunnel_log.text()
    assert opener.opened[0].closed


def test_without_an_authtoken_the_hook_says_so_and_lets_hookd_serve(tunnel_log: Lines) -> None:
    hook = tunnel_hook(NgrokOpener(None), "127.0.0.1:8080", PATHS)

    async def run() -> None:
        async with hook():
            pass

    asyncio.run(run())
    assert (
        f"no ngrok tunnel: {NGROK_SETUP_HINT}. hookd is serving locally only." in tunnel_log.lines
    )


def test_the_ngrok_sdk_without_a_reachable_server_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    opener = NgrokOpener("not-a-real-token", server_addr=f"127.0.0.1:{closed}", timeout=10)

    async def attempt() -> str:
        with pytest.raises(TunnelError) as raised:
            await opener.open("127.0.0.1:8080")
        await asyncio.sleep(0.2)  # let the SDK's runtime settle before the loop closes
        return str(raised.value)

    message = asyncio.run(attempt())
    assert message.startswith("ngrok could not open a tunnel: failed to connect session")


def test_serve_without_a_tunnel_adds_no_hook_and_register_needs_a_tunnel(config: Config) -> None:
    assert serve_hooks(config, None, None, 8080, environ={}) == []
    with pytest.raises(RelayError, match="--register OWNER/NAME needs --tunnel ngrok"):
        serve_hooks(config, None, "octo/hello", 8080, environ={})


def test_serve_with_a_tunnel_but_no_authtoken_still_serves_locally(tmp_path: Path) -> None:
    live = Live(tmp_path)
    try:
        hookd = live.hookd(HOOKD_CONFIG, "--tunnel", "ngrok")
        sent = hookd.hookd("send", "push", "--url", f"{hookd.url}/hooks/github")
        assert "-> 202" in sent.stdout
        assert "no ngrok tunnel: ngrok needs an authtoken: set NGROK_AUTHTOKEN" in hookd.log()
        assert httpx.get(f"{hookd.url}/healthz").status_code == 200
    finally:
        live.stop_all()


def test_serve_refuses_to_register_without_a_github_token(tmp_path: Path) -> None:
    (tmp_path / "hookd.yaml").write_text(textwrap.dedent(HOOKD_CONFIG), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "NGROK_AUTHTOKEN")}
    result = subprocess.run(
        [sys.executable, "-m", "hookd", "serve", "--port", "0", "--workers", "0",
         "--tunnel", "ngrok", "--register", "octo/hello"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert "set GITHUB_TOKEN" in result.stderr
    assert "listening on" not in result.stdout
