"""Linux's prctl(2) for the few process attributes hookd sets on itself. Where prctl is
missing (macOS) each call answers False and changes nothing; the caller says what that costs."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# <linux/prctl.h>
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
# <linux/capability.h>
CAP_SYS_PTRACE = 19


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    return ctypes.CDLL(name, use_errno=True)


_LIBC = _libc()


def prctl(option: int, value: int = 0) -> int | None:
    """Call prctl(option, value, 0, 0, 0): its result, or None where there is no prctl.
    Raises OSError when the kernel refuses."""
    function = getattr(_LIBC, "prctl", None)
    if function is None:
        return None
    result = int(function(option, ctypes.c_ulong(value), 0, 0, 0))
    if result == -1:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def available() -> bool:
    return getattr(_LIBC, "prctl", None) is not None
