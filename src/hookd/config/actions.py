"""A hook's action, parsed once at load into its typed settings.

Each action is one key of a hook (`run:`, `forward:`, ...). `ACTION_PARSERS` turns that
key's validated value into the action's settings, a frozen value with a `kind` that names
the runner (hookd.actions.registry). Adding an action: its key on `HookSettings`, its
settings class and parser here, its module in hookd.actions, and one registry entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from hookd.config.model import ForwardSettings, HookSettings, MirrorSettings
from hookd.config.steps import Step, parse_steps
from hookd.core.vocabulary import ActionKind, Forge


@dataclass(frozen=True, slots=True)
class RunSettings:
    """`run:` a command (a string split into words, or a list), with `shell`, `cwd`, `env`."""

    kind: ClassVar[ActionKind] = ActionKind.RUN
    command: str | list[str]
    shell: bool = False
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PythonSettings:
    """`python: module:function`."""

    kind: ClassVar[ActionKind] = ActionKind.PYTHON
    handler: str


@dataclass(frozen=True, slots=True)
class GithubSteps:
    """`github:` API steps, in the order written."""

    kind: ClassVar[ActionKind] = ActionKind.GITHUB
    steps: tuple[tuple[str, Step], ...]


@dataclass(frozen=True, slots=True)
class GitlabSteps:
    """`gitlab:` API steps, in the order written."""

    kind: ClassVar[ActionKind] = ActionKind.GITLAB
    steps: tuple[tuple[str, Step], ...]


ActionSettings = (
    RunSettings | ForwardSettings | MirrorSettings | GithubSteps | GitlabSteps | PythonSettings
)


def _run(hook: HookSettings) -> RunSettings:
    assert hook.run is not None
    return RunSettings(hook.run, shell=hook.shell, cwd=hook.cwd, env=dict(hook.env))


def _forward(hook: HookSettings) -> ForwardSettings:
    assert hook.forward is not None
    return hook.forward


def _mirror(hook: HookSettings) -> MirrorSettings:
    assert hook.mirror is not None
    return hook.mirror


def _github(hook: HookSettings) -> GithubSteps:
    assert hook.github is not None
    return GithubSteps(parse_steps(ActionKind.GITHUB, hook.github))


def _gitlab(hook: HookSettings) -> GitlabSteps:
    assert hook.gitlab is not None
    return GitlabSteps(parse_steps(ActionKind.GITLAB, hook.gitlab))


def _python(hook: HookSettings) -> PythonSettings:
    assert hook.python is not None
    return PythonSettings(hook.python)


ACTION_PARSERS: Mapping[ActionKind, Callable[[HookSettings], ActionSettings]] = {
    ActionKind.RUN: _run,
    ActionKind.FORWARD: _forward,
    ActionKind.MIRROR: _mirror,
    ActionKind.GITHUB: _github,
    ActionKind.GITLAB: _gitlab,
    ActionKind.PYTHON: _python,
}
"""Each action key of a hook, and how its value becomes the action's settings. A parser
raises StepsError (hookd.config.steps) for a value it cannot take."""

ACTIONS = tuple(ACTION_PARSERS)
"""The action keys of a hook, in the order problems name them."""

API_FORGES: Mapping[ActionKind, Forge] = {
    ActionKind.GITHUB: Forge.GITHUB,
    ActionKind.GITLAB: Forge.GITLAB,
}
"""The actions that call a forge's API, and whose: the endpoint they use must be able to."""
