"""`run:` a command. Words are split first and rendered one by one, so a payload value is
always exactly one argument; `shell: true` hands payload values to the shell only through
environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hookd.actions.base import ActionResult, JobContext, failure
from hookd.actions.process import run_process
from hookd.config.actions import RunSettings
from hookd.core.confine import PathEscape, confined_path
from hookd.core.render import RenderError, render_argv, render_shell, render_text
from hookd.core.vocabulary import JobStatus


def job_environment(job: JobContext, settings: RunSettings) -> dict[str, str]:
    """hookd's base environment (its own secrets removed), the HOOKD_* facts, then `env:`."""
    delivery = job.delivery
    facts = {
        "HOOKD_EVENT": delivery.event,
        "HOOKD_ACTION": delivery.action or "",
        "HOOKD_DELIVERY": delivery.delivery_id or "",
        "HOOKD_HOOK": job.hook,
        "HOOKD_JOB": job.job_id,
        "HOOKD_ATTEMPT": str(job.attempt),
        "HOOKD_ENDPOINT": delivery.endpoint,
        "HOOKD_FORGE": delivery.forge,
        "HOOKD_REPOSITORY": delivery.repository or "",
        "HOOKD_REF": delivery.ref or "",
        "HOOKD_BEFORE": delivery.before or "",
        "HOOKD_SHA": delivery.sha or "",
        "HOOKD_PAYLOAD": str(job.payload_file),
    }
    rendered = {name: render_text(value, job.context) for name, value in settings.env.items()}
    return {**job.base_env, **facts, **rendered}


async def run_command(job: JobContext, settings: RunSettings) -> ActionResult:
    try:
        env = job_environment(job, settings)
        if settings.shell:
            if not isinstance(settings.command, str):
                return failure("run: with shell: true the command must be one string")
            script, values = render_shell(settings.command, job.context)
            argv: tuple[str, ...] = ("/bin/sh", "-c", script)
            env.update(values)
        else:
            argv = render_argv(settings.command, job.context)
        cwd = settings.cwd and confined_path(settings.cwd, render_text(settings.cwd, job.context))
    except RenderError as exc:
        return failure(str(exc))
    except PathEscape as exc:
        return failure(f"cwd: {exc}")
    job.payload_file.write_bytes(job.payload_bytes)
    try:
        return await _run(argv, env, cwd, job)
    finally:
        job.payload_file.unlink(missing_ok=True)


async def _run(
    argv: tuple[str, ...], env: Mapping[str, str], cwd: str | None, job: JobContext
) -> ActionResult:
    try:
        result = await run_process(
            argv,
            env=env,
            cwd=Path(cwd) if cwd else None,
            stdin=job.payload_bytes,
            timeout=job.timeout,
            output=job.output,
            stop=job.stop,
            processes=job.processes,
        )
    except OSError as exc:
        return failure(f"could not start {argv[0]}: {exc.strerror or exc}", retryable=True)
    if result.timed_out:
        return ActionResult(
            JobStatus.TIMED_OUT, result.exit_code, f"timed out after {job.timeout:g}s"
        )
    if result.stopped:
        return ActionResult(JobStatus.CANCELLED, result.exit_code, "cancelled while running")
    if result.exit_code == 0:
        return ActionResult(JobStatus.SUCCEEDED, 0)
    return ActionResult(
        JobStatus.FAILED, result.exit_code, f"exited with status {result.exit_code}"
    )
