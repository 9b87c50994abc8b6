"""Shared fixtures: a real `hookd serve` process on a loopback port, with its own config
and SQLite file in a temporary directory."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hookd.cli import main

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SECRET = "It's a Secret to Everybody"


class LoopTicks:
    """Counts 10 ms ticks of the running event loop while in use: a loop something stalls
    ticks less than the time passed would allow."""

    def __init__(self) -> None:
        self.count = 0
        self._ticker: asyncio.Future[None] | None = None

    async def __aenter__(self) -> LoopTicks:
        self._ticker = asyncio.ensure_future(self._tick())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._ticker is not None
        self._ticker.cancel()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.count += 1


BASIC_CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    forge: github
    secret: "It's a Secret to Everybody"
  gitlab:
    forge: gitlab
    secret: gitlab-token-1
  gitea:
    forge: gitea
    secret: gitea-secret
hooks: {}
"""


@dataclass
class LiveServer:
    """A running `hookd serve`; `url` is its base URL, `log` what it printed."""

    directory: Path
    process: subprocess.Popen[bytes]
    url: str
    output: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.directory / "hookd.yaml"

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def hookd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a `hookd` command against this server's config."""
        return run_hookd(
            *args, "--config", str(self.config), cwd=self.directory, env=self.env, check=check
        )


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def hookd_here(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """Run `hookd ARGS` in this process through its real entry point (`hookd.cli.main`):
    the same code and exit codes as the command, without a second of imports each time."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["hookd", *args])
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:
            code = 0
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def run_hookd(
    *args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "hookd", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"hookd {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def start_server(
    directory: Path, *extra: str, env: dict[str, str] | None = None, timeout: float = 20
) -> LiveServer:
    output = directory / "server.log"
    handle = output.open("wb")
    environment = {**os.environ, **(env or {})}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hookd",
            "serve",
            "--config",
            str(directory / "hookd.yaml"),
            "--port",
            "0",
            *extra,
        ],
        cwd=directory,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=environment,
    )
    handle.close()
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"hookd serve exited:\n{output.read_text()}")
        found = re.search(r"listening on (http://\S+)", output.read_text())
        if found:
            url = found.group(1)
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return LiveServer(directory, process, url, output, env or {})
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"hookd serve did not come up at {url}:\n{output.read_text()}")


def write_config(directory: Path, text: str) -> Path:
    path = directory / "hookd.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    """Start servers with a given config; all are stopped after the test."""
    started: list[LiveServer] = []

    def factory(
        config: str = BASIC_CONFIG,
        *extra: str,
        env: dict[str, str] | None = None,
        directory: Path | None = None,
    ) -> LiveServer:
        folder = directory or tmp_path
        if config:
            write_config(folder, config)
        server = start_server(folder, *extra, env=env)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop(signal.SIGKILL)


@pytest.fixture
def server(server_factory: object) -> LiveServer:
    return server_factory()  # type: ignore[operator,no-any-return]
