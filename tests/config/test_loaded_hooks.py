"""Each hook is loaded once: its `on:` parsed into a trigger, its action into typed
settings, and every action key has a parser and a runner (issue 17)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from hookd.actions.registry import RUNNERS
from hookd.config import load_config
from hookd.config.actions import (
    ACTIONS,
    GithubSteps,
    GitlabSteps,
    PythonSettings,
    RunSettings,
)
from hookd.config.model import ForwardSettings, HookSettings, MirrorSettings
from hookd.config.steps import GithubComment, GithubLabel, GitlabAccept
from hookd.core.rules import parse_trigger
from hookd.core.vocabulary import ActionKind

CONFIG = """
endpoints:
  github:
    secret: s3cret
    api_token: t0ken
  lab:
    forge: gitlab
    secret: s3cret
    api_token: t0ken
hooks:
  deploy:
    endpoint: github
    on: {push: {branches: [main]}}
    if: ref == 'refs/heads/main'
    run: ./deploy.sh {{ after }}
    cwd: /srv
    env: {WHO: "{{ sender.login }}"}
    timeout: 10m
    retries: 2
  relay:
    endpoint: github
    on: "*"
    forward: https://example.com/hook
  backup:
    endpoint: github
    on: push
    mirror: /srv/mirrors/{{ repository.name }}
  handle:
    endpoint: github
    on: [issues, push]
    python: handlers:on_push
  thank:
    endpoint: github
    on: pull_request
    github:
      comment: "Thanks, {{ sender.login }}"
      label: [triage]
  merge:
    endpoint: lab
    on: pull_request
    gitlab:
      accept: true
"""


def test_each_hook_is_loaded_with_its_trigger_and_typed_action(tmp_path: Path) -> None:
    file = tmp_path / "hookd.yaml"
    file.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    hooks = load_config(file, {}).hooks

    deploy = hooks["deploy"]
    assert deploy.endpoint == "github"
    assert deploy.trigger == parse_trigger({"push": {"branches": ["main"]}})
    assert deploy.condition == "ref == 'refs/heads/main'"
    assert (deploy.timeout, deploy.retries) == (600, 2)
    assert deploy.action == RunSettings(
        "./deploy.sh {{ after }}", cwd="/srv", env={"WHO": "{{ sender.login }}"}
    )
    assert hooks["relay"].trigger == parse_trigger("*")
    assert hooks["relay"].action == ForwardSettings(url="https://example.com/hook")
    assert hooks["backup"].action == MirrorSettings(path="/srv/mirrors/{{ repository.name }}")
    assert hooks["handle"].action == PythonSettings("handlers:on_push")
    assert hooks["thank"].action == GithubSteps(
        (
            ("comment", GithubComment(body="Thanks, {{ sender.login }}")),
            ("label", GithubLabel(add=["triage"])),
        )
    )
    assert hooks["merge"].endpoint == "lab"
    assert hooks["merge"].action == GitlabSteps((("accept", GitlabAccept()),))


def test_the_rules_match_with_the_trigger_loaded_once(tmp_path: Path) -> None:
    file = tmp_path / "hookd.yaml"
    file.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    config = load_config(file, {})
    rules = {rule.name: rule for found in config.rules.values() for rule in found}
    assert set(rules) == set(config.hooks)
    for name, hook in config.hooks.items():
        assert rules[name].trigger is hook.trigger
        assert rules[name].condition == hook.condition


def test_every_action_key_has_a_parser_and_a_runner_of_its_kind() -> None:
    assert set(ACTIONS) == set(ActionKind)
    assert set(ACTIONS) <= set(HookSettings.model_fields)
    assert set(RUNNERS) == set(ACTIONS)
    for kind, runner in RUNNERS.items():
        assert runner.settings.kind == kind
