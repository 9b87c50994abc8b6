"""What a new user meets (issue 19): `hookd init DIR` prints the command that works from
where they stand, the secret and the database stay out of git, and an empty rule trace
says why no hook was considered."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import hookd_here
from hookd.config import load_config
from hookd.intake import untraced_reason


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout


def test_init_of_a_subfolder_prints_the_serve_command_that_finds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ran = hookd_here(capsys, "init", "sub")
    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[-1] == "Next: hookd serve --config sub/hookd.yaml"


def test_init_here_prints_the_bare_serve_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ran = hookd_here(capsys, "init")
    assert ran.out.splitlines()[-1] == "Next: hookd serve"


def test_init_elsewhere_prints_the_absolute_config_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    ran = hookd_here(capsys, "init", "../my site")
    expected = f"Next: hookd serve --config '{tmp_path / 'my site' / 'hookd.yaml'}'"
    assert ran.out.splitlines()[-1] == expected


def test_in_a_clone_git_status_offers_neither_the_secret_nor_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("node_modules", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    ran = hookd_here(capsys, "init", "site")
    assert f"{tmp_path / 'site' / '.gitignore'} keeps the secret and the database" in ran.out
    for name in ("hookd.db", "hookd.db-wal", "hookd.db-shm"):
        (tmp_path / "site" / name).write_bytes(b"")
    offered = git(tmp_path, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert offered == ["?? .gitignore", "?? site/.gitignore", "?? site/hookd.yaml"]
    assert (tmp_path / ".gitignore").read_text(encoding="utf-8") == "node_modules"


def test_a_gitignore_that_lists_them_is_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    git(tmp_path, "init", "-q")
    listed = ".hookd-secret\n/hookd.db\nhookd.db-*\n"
    (tmp_path / ".gitignore").write_text(listed, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    hookd_here(capsys, "init")
    assert (tmp_path / ".gitignore").read_text(encoding="utf-8") == listed


def test_outside_a_git_work_tree_no_gitignore_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ran = hookd_here(capsys, "init")
    assert not (tmp_path / ".gitignore").exists()
    assert "out of git" not in ran.out


def test_an_empty_trace_says_why_no_hook_was_considered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    hookd_here(capsys, "init")
    text = (tmp_path / "hookd.yaml").read_text(encoding="utf-8")
    extra = "  lab:\n    forge: gitlab\n    insecure: true\n"
    (tmp_path / "hookd.yaml").write_text(text.replace("\nhooks:", f"{extra}\nhooks:"), "utf-8")
    text = (tmp_path / "hookd.yaml").read_text(encoding="utf-8")
    (tmp_path / "hookd.yaml").write_text(
        text.replace("  hello:\n", "  hello:\n    endpoint: github\n"), "utf-8"
    )
    config = load_config(tmp_path / "hookd.yaml", {})
    assert untraced_reason(config, "github", "ping", "accepted").startswith(
        "a ping runs no hook: hookd answers it itself (`pong`)"
    )
    assert untraced_reason(config, "lab", "push", "accepted") == (
        "no hook is configured for endpoint 'lab'"
    )
    assert untraced_reason(config, "github", "push", "rejected") == (
        "the request was rejected, so no hook was considered"
    )
    assert untraced_reason(config, "github", "push", "accepted") == (
        "no hook was configured for endpoint 'github' when this delivery came"
    )
