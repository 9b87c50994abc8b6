"""The `hookd` command (INTERFACE §3): the quick start from an empty folder, and the
promises every subcommand keeps (`--help`, `--json`, exit 0 / 1 / 2 with a sentence)."""

from __future__ import annotations

import json
import re
import shlex
import signal
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from conftest import LiveServer, hookd_here, run_hookd, start_server
from hookd.cli import cli
from hookd.config import load_config
from hookd.store.migrations import migrations

# -- the quick start -------------------------------------------------------------------------


@dataclass(frozen=True)
class QuickStart:
    server: LiveServer
    sent: str  # the hookd id `hookd send push` got back
    rejected: str  # a delivery with a bad signature

    @property
    def config(self) -> str:
        return str(self.server.config)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuickStart]:
    """`hookd serve` in an empty folder, then `hookd send push` to it, as the README's
    quick start goes; plus one delivery with a wrong signature."""
    folder = tmp_path_factory.mktemp("quickstart")
    server = start_server(folder, "--workers", "0")
    try:
        url = f"{server.url}/hooks/github"
        sent = server.hookd("send", "push", "--url", url)
        assert sent.returncode == 0
        assert f"POST {url} -> 202" in sent.stdout
        answer = json.loads(sent.stdout.splitlines()[-1])
        forged = httpx.post(
            url,
            content=b"{}",
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-Hub-Signature-256": "sha256=" + "0" * 64,
            },
        )
        assert forged.status_code == 401
        rows = json.loads(server.hookd("deliveries", "--json").stdout)
        rejected = next(row["id"] for row in rows if row["status"] == "rejected")
        yield QuickStart(server, answer["id"], rejected)
    finally:
        server.stop(signal.SIGKILL)


def test_serve_without_a_config_writes_one_and_says_what_to_do(quickstart: QuickStart) -> None:
    folder = quickstart.server.directory
    banner = quickstart.server.log()
    assert f"No config at {folder / 'hookd.yaml'}: wrote" in banner
    assert re.search(r"listening on http://127\.0\.0\.1:\d+", banner)
    assert f"{quickstart.server.url}/hooks/github" in banner
    assert f"secret in {folder / '.hookd-secret'}" in banner, "it should say where the secret is"
    assert "hookd send push" in banner, "it should say what to run next"
    assert (folder / "hookd.yaml").is_file()
    assert stat.S_IMODE((folder / ".hookd-secret").stat().st_mode) == 0o600
    assert load_config(folder / "hookd.yaml", {}).specs["github"].secrets


def test_the_command_serve_suggests_works_as_printed(quickstart: QuickStart) -> None:
    # `serve --port 0` listens where the written hookd.yaml (port 8080) does not say.
    hint = re.search(
        r"Try it from another shell: (hookd send push[^(\n]*)", quickstart.server.log()
    )
    assert hint is not None
    command = shlex.split(hint.group(1))
    assert command[:3] == ["hookd", "send", "push"]
    result = run_hookd(*command[1:], cwd=Path("/"))
    assert " -> 202" in result.stdout


def test_deliveries_lists_what_send_sent(
    quickstart: QuickStart, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = hookd_here(capsys, "deliveries", "--config", quickstart.config)
    assert ran.code == 0
    lines = ran.out.splitlines()
    assert lines[0].split()[:2] == ["ID", "RECEIVED"]
    sent = next(line for line in lines if line.startswith(quickstart.sent))
    assert "push" in sent
    assert "accepted" in sent
    assert any(line.startswith(quickstart.rejected) and "rejected" in line for line in lines)


def test_show_prints_headers_rule_trace_and_payload(
    quickstart: QuickStart, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = hookd_here(capsys, "show", quickstart.sent, "--config", quickstart.config)
    assert ran.code == 0
    text = ran.out
    assert text.startswith(f"Delivery {quickstart.sent} (accepted)")
    assert "Headers:" in text
    assert "x-github-event: push" in text.lower()
    assert "Rules:" in text
    assert "hello: matched" in text  # the hook `hookd init` writes
    payload = text.split("Payload:", 1)[1]
    assert json.loads(payload)["repository"]["full_name"] == "hookd-example/website"

    shown = json.loads(
        hookd_here(capsys, "show", quickstart.sent, "--json", "--config", quickstart.config).out
    )
    assert shown["id"] == quickstart.sent
    assert [(entry["hook"], entry["matched"]) for entry in shown["trace"]] == [("hello", True)]
    assert ["x-github-event", "push"] in [[n.lower(), v] for n, v in shown["headers"]]
    assert json.loads(shown["payload"])["ref"].startswith("refs/heads/")


def test_show_unknown_id_exits_1_with_a_sentence(
    quickstart: QuickStart, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = hookd_here(capsys, "show", "01NOSUCHDELIVERY", "--config", quickstart.config)
    assert ran.code == 1
    assert "no delivery 01NOSUCHDELIVERY" in ran.err


def test_deliveries_json_is_a_top_level_array_filtered_by_limit_and_status(
    quickstart: QuickStart, capsys: pytest.CaptureFixture[str]
) -> None:
    def listed(*args: str) -> list[dict[str, object]]:
        ran = hookd_here(capsys, "deliveries", "--json", *args, "--config", quickstart.config)
        assert ran.code == 0, ran.err
        rows = json.loads(ran.out)
        assert isinstance(rows, list)
        return rows

    everything = listed()
    ids = [row["id"] for row in everything]
    assert {quickstart.sent, quickstart.rejected} <= set(ids)
    assert ids == sorted(ids, reverse=True), "newest first"
    for key in ("id", "delivery", "endpoint", "event", "received_at", "status", "hooks", "size"):
        assert key in everything[0]
    assert listed("--limit", "1") == everything[:1]
    assert listed("--limit", "2") == everything[:2]
    for status in ("accepted", "rejected", "duplicate"):
        expected = [row for row in everything if row["status"] == status]
        assert listed("--status", status) == expected, status
    rejected = next(row for row in everything if row["id"] == quickstart.rejected)
    assert rejected["status"] == "rejected"
    assert "signature" in str(rejected["reason"])


def test_migrate_reports_the_schema_version(
    quickstart: QuickStart, capsys: pytest.CaptureFixture[str]
) -> None:
    newest = max(migration.version for migration in migrations("sqlite"))
    ran = hookd_here(capsys, "migrate", "--config", quickstart.config)
    assert ran.code == 0
    assert f"schema version {newest}" in ran.out


# -- init ------------------------------------------------------------------------------------


def test_init_writes_a_config_and_a_private_secret_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "site"
    ran = hookd_here(capsys, "init", str(folder))
    assert ran.code == 0
    assert "http://127.0.0.1:8080/hooks/github" in ran.out
    secret_file = folder / ".hookd-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", secret)
    config = load_config(folder / "hookd.yaml", {})
    assert config.specs["github"].secrets == (secret.strip().encode(),)
    assert secret not in (folder / "hookd.yaml").read_text()

    before = (folder / "hookd.yaml").read_bytes()
    again = hookd_here(capsys, "init", str(folder))
    assert again.code == 1
    assert "not overwriting" in again.err
    assert (folder / "hookd.yaml").read_bytes() == before
    assert secret_file.read_text() == secret


@pytest.mark.parametrize(
    ("forge", "shape"),
    [
        ("gogs", r"[0-9a-f]{64}"),
        ("standard", r"whsec_[A-Za-z0-9+/]{43}="),
        ("azure-devops", r"hookd:[0-9a-f]{64}"),
    ],
)
def test_init_writes_an_endpoint_for_the_forge_with_a_secret_in_its_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], forge: str, shape: str
) -> None:
    ran = hookd_here(capsys, "init", "--forge", forge, str(tmp_path))
    assert ran.code == 0, ran.err
    assert f"http://127.0.0.1:8080/hooks/{forge}" in ran.out
    secret = (tmp_path / ".hookd-secret").read_text().strip()
    assert re.fullmatch(shape, secret)
    config = load_config(tmp_path / "hookd.yaml", {})
    assert config.specs[forge].forge == forge
    assert config.specs[forge].secrets == (secret.encode(),)


# -- every command ---------------------------------------------------------------------------


def _commands(group: click.Command, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    if isinstance(group, click.Group):
        context = click.Context(group)
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            assert command is not None, name
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("command", list(_commands(cli)), ids=" ".join)
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    assert " ".join(command) in result.output.splitlines()[0]


def test_help_works_as_a_real_process(tmp_path: Path) -> None:
    result = run_hookd("--help", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("init", "check", "serve", "send", "deliveries", "show", "migrate"):
        assert re.search(rf"^\s+{name}\s", result.stdout, re.MULTILINE), name


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["deliveries", "--no-such-option"],
        ["deliveries", "--limit", "none"],
        ["deliveries", "--status", "lost"],
        ["show"],
        ["send"],
    ],
    ids=" ".join,
)
def test_bad_usage_exits_2(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = hookd_here(capsys, *args)
    assert ran.code == 2, ran
    assert "Usage:" in ran.err
    assert "Error:" in ran.err
    assert "Traceback" not in ran.err


def test_bad_usage_exits_2_as_a_real_process(tmp_path: Path) -> None:
    result = run_hookd("deliveries", "--limit", "0", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "--limit" in result.stderr


def test_missing_config_exits_1_with_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOOKD_CONFIG", raising=False)
    for args in (["deliveries"], ["check"], ["send", "push"]):
        ran = hookd_here(capsys, *args)
        assert ran.code == 1, args
        assert ran.err.startswith("hookd.yaml: "), ran.err
        assert "No such file or directory" in ran.err
        assert len(ran.err.splitlines()) == 1
        assert ran.out == ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "hookd.yaml"
    path.write_text("endpoints:\n  github:\n    secret: s3cret\n", encoding="utf-8")
    return path


def test_send_to_nothing_listening_exits_1_with_a_sentence(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/hooks/github"
    ran = hookd_here(capsys, "send", "push", "--url", url, "--config", str(config_file))
    assert ran.code == 1
    assert f"could not reach {url}" in ran.err
    assert "hookd serve" in ran.err
    assert "Traceback" not in ran.err


def test_send_unknown_event_exits_1_listing_the_known_events(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = hookd_here(capsys, "send", "nosuchevent", "--config", str(config_file))
    assert ran.code == 1
    assert "nosuchevent" in ran.err
    for known in ("push", "pull_request", "issues", "ping", "release"):
        assert re.search(rf"\b{known}\b", ran.err), known


def test_send_unknown_endpoint_exits_2_naming_it(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = hookd_here(capsys, "send", "push", "--endpoint", "gitlab", "--config", str(config_file))
    assert ran.code == 2
    assert "no endpoint 'gitlab'" in ran.err
