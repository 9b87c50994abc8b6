"""What hardening changes in a process: its dumpable flag, the environment block the kernel
shows, database credentials in its command line; and what it keeps: every variable, for
Python, for libc's getenv, and for the children it starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hookd import procctl

pytestmark = pytest.mark.skipif(not procctl.available(), reason="prctl is Linux's")

SCRIPT = """
import ctypes, json, os, subprocess, sys
from hookd import procctl
from hookd.process_hardening import harden
problems = harden()
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
print(json.dumps({
    "problems": problems,
    "dumpable": procctl.prctl(procctl.PR_GET_DUMPABLE),
    "environ": open("/proc/self/environ", "rb").read().strip(b"\\0").decode(),
    "cmdline": open("/proc/self/cmdline", "rb").read().decode(),
    "python": os.environ["HARDENING_SECRET"],
    "getenv": libc.getenv(b"HARDENING_SECRET").decode(),
    "child": subprocess.run(["sh", "-c", "echo $HARDENING_SECRET"], capture_output=True,
                            text=True).stdout.strip(),
}))
"""


def test_hardening_hides_the_environment_block_and_url_credentials_but_keeps_variables() -> None:
    secret = "hardening-s3cret-value"
    ran = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--db", "postgresql://u:pa55word@db/hookd?password=other"],
        capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "HARDENING_SECRET": secret},
    )  # fmt: skip
    seen = json.loads(ran.stdout)
    assert seen["problems"] == []
    assert seen["dumpable"] == 0
    assert seen["environ"] == ""
    assert "pa55word" not in seen["cmdline"] and "other" not in seen["cmdline"]
    assert "postgresql://u:********@db/hookd?password=*****" in seen["cmdline"]
    assert seen["python"] == seen["getenv"] == seen["child"] == secret
