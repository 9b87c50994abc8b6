"""What `hookd serve` and `hookd worker` do to their own process, so that the jobs they run
(same user) cannot read the secrets hookd was started with.

- `PR_SET_DUMPABLE 0`: no core dumps, and the kernel refuses ptrace, `/proc/PID/mem` and
  `/proc/PID/environ` to every process of the same user that lacks CAP_SYS_PTRACE (the
  files become root's). Jobs are not affected: execve resets the flag.
- The environment block the kernel shows as `/proc/PID/environ` is zeroed, after libc's
  environment was moved to copies on the heap (os.environ and getenv keep every variable).
  This also protects the environment from a job running as root.
- In the command line (`/proc/PID/cmdline`, which any local user can read), the
  credentials of a database URL given as an argument are overwritten with `*`.
- Run as root, CAP_SYS_PTRACE is dropped from the capability bounding set: hookd keeps it,
  but every program it starts (jobs, git) is root without it, so the dumpable flag refuses
  it `/proc/PID/mem` and ptrace as it refuses another user. A root job can still read the
  config and secret files from the disk: run hookd as its own user (docs/deploy.md).

Each step answers what it did, for the caller to say what it could not.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable

from hookd import procctl
from hookd.core.procstat import stat_fields
from hookd.store.database_url import url_secrets

# /proc/PID/stat fields (proc(5)), counted from 1: where argv and the environment lie.
_ARG_START, _ENV_END = 48, 51


def harden() -> list[str]:
    """Take every step above; the sentences say which could not be taken and why."""
    problems = []
    layout = _memory_layout()
    if layout is None:
        problems.append("cannot read /proc/self/stat: the environment block stays readable")
    else:
        arg_start, arg_end, env_start, env_end = layout
        _rewrite_block(arg_start, arg_end, _mask_argument)
        _move_environment_to_heap()
        ctypes.memset(env_start, 0, env_end - env_start)
    try:
        if procctl.prctl(procctl.PR_SET_DUMPABLE, 0) is None:
            problems.append("no prctl here: jobs of the same user may trace hookd")
    except OSError as exc:
        problems.append(f"prctl(PR_SET_DUMPABLE) failed: {exc.strerror}")
    if os.geteuid() == 0:
        problems.extend(_drop_ptrace_for_children())
    return problems


def _drop_ptrace_for_children() -> list[str]:
    """Take CAP_SYS_PTRACE out of the bounding set, which limits what an exec'd program
    may have (capabilities(7)); this process's own capabilities stay."""
    try:
        procctl.prctl(procctl.PR_CAPBSET_DROP, procctl.CAP_SYS_PTRACE)
    except OSError as exc:
        return [f"prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE) failed: {exc.strerror}"]
    return []


def _memory_layout() -> tuple[int, int, int, int] | None:
    """arg_start, arg_end, env_start, env_end of this process, from /proc/self/stat."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    try:
        fields = stat_fields(text.decode("latin-1"))
        values = [int(value) for value in fields[_ARG_START - 1 : _ARG_START + 3]]
    except ValueError:
        return None
    if len(values) != 4 or not all(values):
        return None
    return values[0], values[1], values[2], values[3]


def _move_environment_to_heap() -> None:
    """setenv every variable again: glibc then points `environ` at heap copies, and the
    initial block is no longer read by anyone."""
    for name, value in os.environb.items():
        # A name setenv refuses (empty, or holding "=") cannot be read by name anyway.
        with contextlib.suppress(ValueError):
            os.putenv(name, value)


def _rewrite_block(start: int, end: int, rewrite: Callable[[bytes], bytes]) -> None:
    """Rewrite the NUL-separated strings in [start, end) in place, none growing."""
    size = end - start
    block = ctypes.string_at(start, size)
    rewritten = b"\0".join(rewrite(piece) for piece in block.split(b"\0"))
    if rewritten != block and len(rewritten) == size:
        ctypes.memmove(start, rewritten, size)


def _mask_argument(argument: bytes) -> bytes:
    """`argument` with any URL credential in it overwritten by as many `*` bytes."""
    text = argument.decode("utf-8", "surrogateescape")
    if "://" not in text:
        return argument
    masked = argument
    for secret in url_secrets(text):
        raw = secret.encode("utf-8", "surrogateescape")
        masked = masked.replace(raw, b"*" * len(raw))
    return masked
