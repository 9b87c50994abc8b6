"""`python: module:function`: call a handler in the user's code with the delivery.
A coroutine function is awaited; a plain one runs in a thread. What it returns, as text,
is the job's result; what it raises fails the job, and so does sys.exit() with a status
other than 0."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from hookd.actions.base import ActionResult, JobContext, failure
from hookd.config.actions import PythonSettings
from hookd.core.delivery import Delivery
from hookd.core.vocabulary import JobStatus


def load_handler(spec: str, folder: Path) -> object:
    """Import `module:function`, with the config's folder importable."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ImportError(f"python: expected module:function, got {spec!r}")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise ImportError(f"python: {module_name} has no function {function_name}")
    return handler


class HandlerExit(Exception):
    """The handler called sys.exit(). A SystemExit left to propagate would stop hookd's
    event loop (asyncio re-raises it out of the loop) and leave the job `running`."""

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


def _call_sync(handler: Callable[[Delivery], object], delivery: Delivery) -> object:
    try:
        return handler(delivery)
    except SystemExit as exc:
        raise HandlerExit(exc.code) from None


async def _call_async(
    handler: Callable[[Delivery], Awaitable[object]], delivery: Delivery
) -> object:
    try:
        return await handler(delivery)
    except SystemExit as exc:
        raise HandlerExit(exc.code) from None


async def call_handler(job: JobContext, settings: PythonSettings) -> ActionResult:
    spec = settings.handler
    try:
        handler = load_handler(spec, job.config.path.parent.resolve())
    except SystemExit as exc:
        return failure(f"python: cannot load {spec}: it called sys.exit({exc.code!r})")
    except Exception as exc:  # noqa: BLE001 - any import failure is the job's error
        return failure(f"python: cannot load {spec}: {exc}", retryable=True)
    assert callable(handler)
    try:
        if inspect.iscoroutinefunction(handler):
            call = _call_async(handler, job.delivery)
        else:
            call = asyncio.to_thread(_call_sync, handler, job.delivery)
        value = await asyncio.wait_for(call, job.timeout)
    except TimeoutError:
        return ActionResult(JobStatus.TIMED_OUT, error=f"timed out after {job.timeout:g}s")
    except HandlerExit as exc:
        # As for a process: exit status 0 (or none) is success.
        if exc.code in (0, None):
            return ActionResult(JobStatus.SUCCEEDED)
        return failure(f"{spec} called sys.exit({exc.code!r})", retryable=True)
    except Exception as exc:  # noqa: BLE001 - the handler's failure is the job's failure
        return failure(f"{spec} raised {exc.__class__.__name__}: {exc}", retryable=True)
    return ActionResult(JobStatus.SUCCEEDED, result=None if value is None else str(value))
