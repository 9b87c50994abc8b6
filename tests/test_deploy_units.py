"""The systemd units docs/deploy.md shows pass `systemd-analyze verify` (issue 19), with
their `/opt/hookd/bin/hookd` pointed at the hookd these tests run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"
INSTALLED = "/opt/hookd/bin/hookd"
HOOKD = Path(sys.executable).with_name("hookd")

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or not HOOKD.exists(),
    reason="needs systemd-analyze and the hookd command beside this Python",
)


def units() -> dict[str, str]:
    """The guide's unit files by the name it gives them (the worker template as instance 1)."""
    text = DEPLOY.read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```ini\n(.*?)```", text, re.S) if b.startswith("[Unit]")]
    names = re.findall(r"`/etc/systemd/system/(hookd-[a-z@-]+\.service)`", text)
    assert len(blocks) == len(names) == 2, (names, len(blocks))
    return {name.replace("@.", "@1."): block for name, block in zip(names, blocks, strict=True)}


def verify(folder: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    paths = [str(folder / name) for name in files]
    return subprocess.run(
        ["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=60
    )


def test_the_guides_units_start_hookd_from_its_virtual_environment() -> None:
    for name, text in units().items():
        assert re.search(rf"^ExecStart={re.escape(INSTALLED)} ", text, re.M), name
        assert "User=hookd" in text, name


def test_the_guides_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    found = {name: text.replace(INSTALLED, str(HOOKD)) for name, text in units().items()}
    ran = verify(tmp_path, found)
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")


def test_verify_would_catch_a_missing_command_and_a_bad_setting(tmp_path: Path) -> None:
    found = units()
    missing = verify(tmp_path, {"hookd-serve.service": found["hookd-serve.service"]})
    assert missing.returncode != 0
    assert f"Command {INSTALLED} is not executable" in missing.stderr
    worker = found["hookd-worker@1.service"].replace(INSTALLED, str(HOOKD))
    bad = verify(tmp_path, {"hookd-worker@1.service": worker.replace("=mixed", "=sometimes")})
    assert "Failed to parse kill mode" in bad.stderr
