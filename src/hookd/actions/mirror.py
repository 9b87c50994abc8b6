"""`mirror:` keep `git clone --mirror` of the pushed repository up to date, and push it on
to a backup remote when `push-to` is set."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hookd.actions.base import ActionResult, JobContext, failure
from hookd.actions.process import run_process
from hookd.config.model import MirrorSettings
from hookd.core.render import RenderError, render_text


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


async def mirror(job: JobContext, settings: MirrorSettings, env: Mapping[str, str]) -> ActionResult:
    try:
        path = Path(render_text(settings.path, job.context))
        source = render_text(settings.url, job.context) if settings.url else None
        push_to = render_text(settings.push_to, job.context) if settings.push_to else None
    except RenderError as exc:
        return failure(str(exc))
    source = source or clone_url(job.delivery.payload)
    if source is None:
        return failure("mirror: the payload names no repository clone URL; set mirror.url")
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
            )
        except OSError as exc:
            return failure(f"could not start git: {exc.strerror or exc}", retryable=True)
        if result.timed_out:
            return ActionResult("timed_out", result.exit_code, f"git timed out: {argv[1:3]}")
        if result.stopped:
            return ActionResult("cancelled", result.exit_code, "cancelled while running")
        if result.exit_code != 0:
            return ActionResult(
                "failed",
                result.exit_code,
                f"{' '.join(argv[:4])} exited with status {result.exit_code}",
            )
    return ActionResult("succeeded", 0, result=str(path))
