"""Event and type names in `on:` are checked against the events the endpoint's forge sends:
a typo is an error naming its line and the closest names, never a hook that silently never
fires (issue 19)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import CORPUS, hookd_here, run_hookd
from hookd.config import load_config
from hookd.core.event_actions import GITEA_EVENT_ACTIONS, GITHUB_EVENT_ACTIONS, name_problems
from hookd.core.events import GITEA_EVENT_NAMES, GITHUB_EVENT_NAMES, GITLAB_EVENT_NAMES
from hookd.core.forge_profiles import PROFILES
from hookd.core.rules import parse_trigger
from hookd.errors import ConfigError


def config_with(forge: str, hooks: str) -> str:
    head = f"endpoints:\n  main:\n    forge: {forge}\n    insecure: true\nhooks:\n"
    return head + textwrap.indent(textwrap.dedent(hooks), "  ")


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    return [line.split("hookd.yaml:", 1)[1] for line in caught.value.problems]


def loads(tmp_path: Path, text: str) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    load_config(path, {})


def test_a_misspelt_event_names_its_line_and_the_closest_name(tmp_path: Path) -> None:
    text = config_with("github", "a:\n  on: pushh\n  run: 'true'\n")
    assert problems(tmp_path, text) == [
        "7: hooks.a.on: GitHub sends no event 'pushh'; did you mean 'push'?"
    ]


def test_a_misspelt_event_in_a_list_names_the_item_line(tmp_path: Path) -> None:
    text = config_with("github", "a:\n  on:\n    - push\n    - pull_requests\n  run: 'true'\n")
    [found] = problems(tmp_path, text)
    assert found.startswith("9: hooks.a.on.1: GitHub sends no event 'pull_requests'; ")
    assert "did you mean 'pull_request'" in found


def test_a_misspelt_type_names_its_line_and_the_closest_action(tmp_path: Path) -> None:
    hooks = """\
    a:
      on:
        pull_request:
          types:
            - closed
            - opend
      run: 'true'
    """
    assert problems(tmp_path, config_with("github", hooks)) == [
        "11: hooks.a.on.pull_request.types.1: GitHub sends no pull_request action 'opend'; "
        "did you mean 'opened' or 'reopened'?"
    ]


def test_types_on_an_event_without_actions_is_refused(tmp_path: Path) -> None:
    text = config_with("github", "a:\n  on: {push: {types: created}}\n  run: 'true'\n")
    assert problems(tmp_path, text) == [
        "7: hooks.a.on.push.types: GitHub sends push without an action, so no delivery "
        "would match types; leave types out"
    ]


def test_a_name_far_from_any_lists_what_the_forge_sends(tmp_path: Path) -> None:
    text = config_with("gitlab", "a:\n  on: {pull_request: {types: [zzz]}}\n  run: 'true'\n")
    assert problems(tmp_path, text) == [
        "7: hooks.a.on.pull_request.types.0: GitLab sends no pull_request action 'zzz'; "
        "expected one of: approved, closed, edited, merged, opened, reopened, synchronize, "
        "unapproved"
    ]


def test_gitlab_names_point_to_hookds_names(tmp_path: Path) -> None:
    text = config_with("gitlab", "a:\n  on: [merge_request, tag_push]\n  run: 'true'\n")
    assert problems(tmp_path, text) == [
        "7: hooks.a.on.0: hookd calls GitLab's 'merge_request' by GitHub's name: "
        "write 'pull_request'",
        "7: hooks.a.on.1: hookd calls GitLab's 'tag_push' by GitHub's name: write 'push'",
    ]


def test_a_workflow_only_trigger_is_refused_with_the_webhook_event(tmp_path: Path) -> None:
    text = config_with("github", "a:\n  on: [pull_request_target]\n  run: 'true'\n")
    assert problems(tmp_path, text) == [
        "7: hooks.a.on.0: 'pull_request_target' is a GitHub Actions trigger, not a webhook "
        "event: GitHub sends 'pull_request'"
    ]


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea", "generic"])
def test_on_ping_is_refused_with_the_reason(tmp_path: Path, forge: str) -> None:
    text = config_with(forge, "a:\n  on: ping\n  run: 'true'\n")
    assert problems(tmp_path, text) == [
        "7: hooks.a.on: a ping runs no hook: hookd answers it itself (`pong`), to show the "
        "forge that the URL and secret work"
    ]


def test_known_names_every_event_and_a_generic_endpoint_load(tmp_path: Path) -> None:
    hooks = """\
    a:
      on:
        pull_request: {types: [opened, closed, ready_for_review]}
        workflow_run: {types: completed}
        repository_dispatch: {types: [deploy-now]}
        push:
      run: 'true'
    b:
      on: '*'
      run: 'true'
    """
    loads(tmp_path, config_with("github", hooks))
    loads(tmp_path, config_with("generic", "a:\n  on: {anything: {types: [at-all]}}\n  run: x\n"))


def test_hookd_check_exits_non_zero_naming_the_line_and_closest_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(config_with("github", "a:\n  on: pushh\n  run: 'true'\n"), "utf-8")
    ran = hookd_here(capsys, "check", "--config", str(path))
    assert ran.code == 1
    assert "hookd.yaml:7: hooks.a.on: GitHub sends no event 'pushh'; did you mean 'push'?" in (
        ran.err
    )


def test_each_profile_table_lists_exactly_the_events_the_forge_sends() -> None:
    enterprise_only = {"cache_sync", "content_reference", "enterprise", "user"}
    enterprise_only |= {"integration_installation", "integration_installation_repositories"}
    assert set(PROFILES["github"].event_actions) == GITHUB_EVENT_NAMES | enterprise_only
    assert set(PROFILES["gitlab"].event_actions) == GITLAB_EVENT_NAMES
    assert set(PROFILES["gitea"].event_actions) == GITEA_EVENT_NAMES
    assert PROFILES["generic"].event_actions == {}


def test_an_unknown_table_checks_nothing_but_ping() -> None:
    on = {"pushh": {"types": ["opend"]}}
    assert name_problems(on, parse_trigger(on), "Some forge", {}) == []


def _actions(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for file in sorted(folder.glob("*/*.json")):
        payload = json.loads(file.read_text("utf-8"))
        if isinstance(payload, dict) and isinstance(payload.get("action"), str):
            found.setdefault(file.parent.name, set()).add(payload["action"])
    return found


@pytest.mark.parametrize("folder", ["github", "github-enterprise/ghes-35"])
def test_every_action_in_the_github_corpus_is_in_the_table(folder: str) -> None:
    found = _actions(CORPUS / folder)
    assert found, "the corpus has GitHub payloads with actions"
    for event, actions in found.items():
        known = GITHUB_EVENT_ACTIONS[event]
        if known is None:
            continue
        assert actions <= known, (event, actions - known)


def test_every_action_in_the_gitea_corpus_is_in_the_table() -> None:
    for event, actions in _actions(CORPUS / "gitea").items():
        known = GITEA_EVENT_ACTIONS[event]
        mapped = {{"synchronized": "synchronize", "label_updated": "labeled"}.get(a, a)
                  for a in actions}  # fmt: skip
        assert known is None or mapped <= known, (event, mapped)


def test_hookd_serve_refuses_to_start_with_a_misspelt_type(tmp_path: Path) -> None:
    # In a process of its own: `serve` hardens the process it runs in (process_hardening),
    # which would take CAP_SYS_PTRACE from the test run's children for good.
    path = tmp_path / "hookd.yaml"
    hooks = "a:\n  on: {pull_request: {types: opend}}\n  run: 'true'\n"
    path.write_text(config_with("github", hooks), "utf-8")
    ran = run_hookd("serve", "--config", str(path), "--port", "0", cwd=tmp_path, check=False)
    assert ran.returncode == 1
    assert "hookd.yaml:7: hooks.a.on.pull_request.types: GitHub sends no pull_request action " in (
        ran.stderr
    )
    assert "listening" not in ran.stdout
