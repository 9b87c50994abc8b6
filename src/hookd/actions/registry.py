"""Every action hookd can run, by kind: the one place the worker looks an action up.

Each action is a module with `async def NAME(job: JobContext, settings: S) -> ActionResult`
for its settings class `S` (hookd.config.actions), registered here once. Adding an action:
its settings and parser in hookd.config.actions, its key on `HookSettings`, its module
here in hookd.actions, and one `Registered` entry below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hookd.actions.base import ActionResult, JobContext, failure
from hookd.actions.forward import forward
from hookd.actions.github_steps import run_github
from hookd.actions.gitlab_steps import run_gitlab
from hookd.actions.mirror import mirror
from hookd.actions.python_handler import call_handler
from hookd.actions.run import run_command
from hookd.config.actions import (
    ActionSettings,
    GithubSteps,
    GitlabSteps,
    PythonSettings,
    RunSettings,
)
from hookd.config.model import ForwardSettings, MirrorSettings
from hookd.core.vocabulary import ActionKind

S = TypeVar("S", bound=ActionSettings)


@dataclass(frozen=True, slots=True)
class Registered(Generic[S]):
    """An action's settings class and its runner; the type checker holds them together."""

    settings: type[S]
    run: Callable[[JobContext, S], Awaitable[ActionResult]]

    async def __call__(self, job: JobContext, settings: ActionSettings) -> ActionResult:
        assert isinstance(settings, self.settings)
        return await self.run(job, settings)


RUNNERS: Mapping[ActionKind, Registered[Any]] = {
    entry.settings.kind: entry
    for entry in (
        Registered(RunSettings, run_command),
        Registered(ForwardSettings, forward),
        Registered(MirrorSettings, mirror),
        Registered(PythonSettings, call_handler),
        Registered(GithubSteps, run_github),
        Registered(GitlabSteps, run_gitlab),
    )
}


async def run_action(job: JobContext, settings: ActionSettings) -> ActionResult:
    """Run one attempt of the action `settings` describe, for `job`."""
    action = RUNNERS.get(settings.kind)
    if action is None:
        return failure(f"hook {job.hook!r} has no action this version of hookd can run")
    return await action(job, settings)
