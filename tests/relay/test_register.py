"""`hookd github register` against a local server that answers like GitHub's REST API:
create, update by URL, remove, organizations, events from the hooks' `on:`, and GitHub's
errors as sentences. The secret goes to GitHub and is never printed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from relaying import FakeGitHub

from conftest import SECRET
from hookd.cli import main

TOKEN = "ghp_test_token"
REPO = "/repos/octo/hello"
URL = "https://hooks.example.com/hooks/github"

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  github:
    forge: github
    secret: "It's a Secret to Everybody"
    api_url: {api_url}
hooks:
  deploy:
    on: {{push: {{branches: [main]}}}}
    run: "true"
  review:
    on: [pull_request, push]
    run: "true"
"""


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKEN, owners=(REPO, "/orgs/acme")) as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, github: FakeGitHub) -> Path:
    path = tmp_path / "hookd.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(api_url=github.url)), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


Register = Callable[..., Ran]


@pytest.fixture
def register(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Register:
    """Runs `hookd github register -c CONFIG ARGS...` in this process, as `hookd` does,
    with GITHUB_TOKEN set to `token` (unset for None)."""

    def run(*args: str, token: str | None = TOKEN, config: Path = config) -> Ran:
        monkeypatch.setattr(sys, "argv", ["hookd", "github", "register", "-c", str(config), *args])
        monkeypatch.delenv("GITHUB_API_URL", raising=False)
        if token is None:
            monkeypatch.delenv("GITHUB_TOKEN", raising=False)
        else:
            monkeypatch.setenv("GITHUB_TOKEN", token)
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert SECRET not in out + err
        return Ran(code, out, err)

    return run


def test_creates_the_webhook_with_the_secret_json_and_the_hooks_events(
    config: Path, github: FakeGitHub
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_API_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "hookd", "github", "register", "-c", str(config),
         "--repo", "octo/hello", "--url", URL],
        capture_output=True, text=True, timeout=60, env={**env, "GITHUB_TOKEN": TOKEN},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "Created webhook 101 on octo/hello" in result.stdout
    [call] = github.writes()
    assert (call.method, call.path, call.authorization) == (
        "POST",
        f"{REPO}/hooks",
        f"Bearer {TOKEN}",
    )
    assert call.body == {
        "name": "web",
        "active": True,
        "events": ["push", "pull_request"],
        "config": {"url": URL, "content_type": "json", "secret": SECRET, "insecure_ssl": "0"},
    }


def test_updates_the_webhook_found_by_its_url_across_pages(
    register: Register, github: FakeGitHub
) -> None:
    for index in range(3):
        github.add(REPO, f"https://elsewhere.example.com/{index}", ["push"])
    existing = github.add(REPO, URL, ["issues"], active=False)
    result = register("--repo", "octo/hello", "--url", URL)
    assert result.code == 0, result.stderr
    assert f"Updated webhook {existing} on octo/hello" in result.stdout
    [call] = github.writes()
    assert (call.method, call.path) == ("PATCH", f"{REPO}/hooks/{existing}")
    assert call.body["active"] is True
    assert call.body["events"] == ["push", "pull_request"]
    assert call.body["config"]["secret"] == SECRET
    assert "name" not in call.body
    assert [c.path for c in github.calls if c.method == "GET"] == [f"{REPO}/hooks"] * 2
    assert len(github.hooks[REPO]) == 4


def test_removes_the_webhook_and_says_when_there_is_none(
    register: Register, github: FakeGitHub
) -> None:
    existing = github.add(REPO, URL, ["push"])
    removed = register("--repo", "octo/hello", "--url", URL, "--remove")
    assert removed.code == 0, removed.stderr
    assert f"Removed webhook {existing} from octo/hello" in removed.stdout
    assert [(c.method, c.path) for c in github.writes()] == [("DELETE", f"{REPO}/hooks/{existing}")]
    assert github.hooks[REPO] == []

    again = register("--repo", "octo/hello", "--url", URL, "--remove")
    assert again.code == 0
    assert "nothing to remove" in again.stdout


def test_registers_an_organization_webhook(register: Register, github: FakeGitHub) -> None:
    result = register("--org", "acme", "--url", URL)
    assert result.code == 0, result.stderr
    assert "on organization acme" in result.stdout
    assert [(c.method, c.path) for c in github.writes()] == [("POST", "/orgs/acme/hooks")]


def test_events_given_on_the_command_line_replace_the_hooks_events(
    register: Register, github: FakeGitHub
) -> None:
    result = register("--repo", "octo/hello", "--url", URL,
                      "--events", "push,issues", "--events", "release")  # fmt: skip
    assert result.code == 0, result.stderr
    assert github.writes()[0].body["events"] == ["push", "issues", "release"]


def test_a_hook_on_every_event_registers_every_event(
    register: Register, tmp_path: Path, github: FakeGitHub
) -> None:
    config = tmp_path / "hookd.yaml"
    config.write_text(
        textwrap.dedent(CONFIG.format(api_url=github.url)).split("hooks:")[0]
        + 'hooks:\n  all:\n    on: "*"\n    run: "true"\n',
        encoding="utf-8",
    )
    assert register("--repo", "octo/hello", "--url", URL, config=config).code == 0
    assert github.writes()[0].body["events"] == ["*"]


def test_uses_the_endpoints_api_token_without_github_token(
    register: Register, tmp_path: Path, github: FakeGitHub
) -> None:
    config = tmp_path / "hookd.yaml"
    text = CONFIG.format(api_url=github.url).replace(
        f"api_url: {github.url}", f"api_url: {github.url}\n    api_token: {TOKEN}"
    )
    config.write_text(textwrap.dedent(text), encoding="utf-8")
    result = register("--repo", "octo/hello", "--url", URL, token=None, config=config)
    assert result.code == 0, result.stderr
    assert github.writes()[0].authorization == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("args", "token", "message"),
    [
        (("--repo", "octo/missing"), TOKEN, "GitHub answered 404 Not Found"),
        (("--repo", "octo/hello"), "wrong", "GitHub answered 401 Bad credentials"),
        (("--repo", "octo/hello"), None, "set GITHUB_TOKEN"),
        (("--repo", "octo/hello", "--org", "acme"), TOKEN, "either --repo OWNER/NAME or --org"),
        (("--repo", "not-a-repo"), TOKEN, "expected OWNER/NAME"),
        (("--repo", "octo/hello", "--endpoint", "nope"), TOKEN, "no endpoint 'nope'"),
    ],
    ids=["unknown repository", "bad token", "no token", "repo and org", "bad repo", "endpoint"],
)
def test_problems_are_one_sentence_and_exit_1(
    register: Register,
    github: FakeGitHub,
    args: tuple[str, ...],
    token: str | None,
    message: str,
) -> None:
    result = register(*args, "--url", URL, token=token)
    assert result.code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert github.writes() == []


def test_an_unreachable_api_is_a_sentence(register: Register) -> None:
    result = register("--repo", "octo/hello", "--url", URL,
                      "--api-url", "http://127.0.0.1:9")  # fmt: skip
    assert result.code == 1
    assert "cannot reach GitHub's API at http://127.0.0.1:9" in result.stderr
