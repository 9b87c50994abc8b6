"""prctl through ctypes: a set value is read back."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hookd import procctl

pytestmark = pytest.mark.skipif(not procctl.available(), reason="prctl is Linux's")


def test_a_child_subreaper_flag_set_is_read_back() -> None:
    code = (
        "import ctypes; from hookd import procctl;"
        "procctl.prctl(procctl.PR_SET_CHILD_SUBREAPER, 1);"
        "flag = ctypes.c_int(); "
        "procctl._LIBC.prctl(procctl.PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0);"
        "print(flag.value)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "1"


def test_dumpable_is_read_back_after_it_is_cleared() -> None:
    code = (
        "from hookd import procctl;"
        "before = procctl.prctl(procctl.PR_GET_DUMPABLE);"
        "procctl.prctl(procctl.PR_SET_DUMPABLE, 0);"
        "print(before, procctl.prctl(procctl.PR_GET_DUMPABLE))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "0"]


def test_the_kernel_refusing_raises() -> None:
    with pytest.raises(OSError):
        procctl.prctl(procctl.PR_SET_DUMPABLE, 7)
