"""`mirror:` keep `git clone --mirror` of the pushed repository up to date, and push it on
to a backup remote when `push-to` is set. Jobs for the same mirror take turns: two pushes
in a row would otherwise race on one clone (`destination path already exists`, `could not
lock config file`)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hookd.actions.base import ActionResult, JobContext, failure
from hookd.actions.process import run_process
from hookd.config.model import MirrorSettings
from hookd.core.confine import PathEscape, confined_path
from hookd.core.render import RenderError, render_text
from hookd.core.vocabulary import JobStatus

LOCK_POLL = 0.1


def clone_url(payload: Mapping[str, Any]) -> str | None:
    """The pushed repository's clone URL: GitHub's and Gitea's `repository.clone_url`,
    GitLab's `project.git_http_url`."""
    for owner, key in (
        ("repository", "clone_url"),
        ("project", "git_http_url"),
        ("repository", "git_http_url"),
    ):
        value = payload.get(owner)
        if isinstance(value, Mapping) and isinstance(value.get(key), str):
            return str(value[key])
    return None


async def mirror(job: JobContext, settings: MirrorSettings) -> ActionResult:
    try:
        rendered = render_text(settings.path, job.context)
        path = Path(confined_path(settings.path, rendered, safe_names=True))
        source = render_text(settings.url, job.context) if settings.url else None
        push_to = render_text(settings.push_to, job.context) if settings.push_to else None
    except RenderError as exc:
        return failure(str(exc))
    except PathEscape as exc:
        return failure(f"mirror: {exc}")
    source = source or clone_url(job.delivery.payload)
    if source is None:
        return failure("mirror: the payload names no repository clone URL; set mirror.url")
    for name, url in (("the clone URL", source), ("push-to", push_to)):
        if url is not None and url.startswith("-"):
            return failure(
                f"mirror: {name} {url!r} starts with '-', which git would read as an option"
            )
    locked = await _lock(path, job)
    if isinstance(locked, ActionResult):
        return locked
    try:
        return await _run_steps(job, path, source, push_to, job.base_env)
    finally:
        os.close(locked)  # releases the lock


async def _lock(path: Path, job: JobContext) -> int | ActionResult:
    """An open descriptor of the mirror's folder (created empty if need be; git clones into
    an empty folder) holding an exclusive flock, or how the job ended while waiting."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        return failure(f"mirror: cannot use {path}: {exc.strerror or exc}")
    try:
        ended = await _wait_for_lock(folder, path, job)
    except BaseException:
        os.close(folder)
        raise
    if ended is not None:
        os.close(folder)
        return ended
    return folder


async def _wait_for_lock(folder: int, path: Path, job: JobContext) -> ActionResult | None:
    """None once the lock is held; polled, so a cancel or the timeout ends the wait."""
    waited_since = time.monotonic()
    while True:
        try:
            fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            pass
        if job.stop.is_set():
            return ActionResult(JobStatus.CANCELLED, error="cancelled while waiting for the mirror")
        if job.timeout is not None and time.monotonic() - waited_since > job.timeout:
            return ActionResult(JobStatus.TIMED_OUT, error=f"timed out waiting for {path}")
        await asyncio.sleep(LOCK_POLL)


async def _run_steps(
    job: JobContext, path: Path, source: str, push_to: str | None, env: Mapping[str, str]
) -> ActionResult:
    steps: list[list[str]] = []
    if (path / "HEAD").exists():
        steps.append(["git", "-C", str(path), "remote", "set-url", "origin", source])
        steps.append(["git", "-C", str(path), "remote", "update", "--prune"])
    else:
        steps.append(["git", "clone", "--mirror", "--", source, str(path)])
    if push_to:
        steps.append(["git", "-C", str(path), "push", "--mirror", "--", push_to])
    git_env = {**env, "GIT_TERMINAL_PROMPT": "0"}
    for argv in steps:
        await job.output(("$ " + " ".join(argv) + "\n").encode())
        try:
            result = await run_process(
                argv,
                env=git_env,
                cwd=None,
                stdin=b"",
                timeout=job.timeout,
                output=job.output,
                stop=job.stop,
                processes=job.processes,
            )
        except OSError as exc:
            return failure(f"could not start git: {exc.strerror or exc}", retryable=True)
        if result.timed_out:
            return ActionResult(
                JobStatus.TIMED_OUT, result.exit_code, f"git timed out: {argv[1:3]}"
            )
        if result.stopped:
            return ActionResult(JobStatus.CANCELLED, result.exit_code, "cancelled while running")
        if result.exit_code != 0:
            return ActionResult(
                JobStatus.FAILED,
                result.exit_code,
                f"{' '.join(argv[:4])} exited with status {result.exit_code}",
            )
    return ActionResult(JobStatus.SUCCEEDED, 0, result=str(path))
