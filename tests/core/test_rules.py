"""`on:` parsing and matching, with GitHub Actions' meaning, against the forges' real payloads."""

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from hookd.core.facts import GITHUB_COMMITS_CAP, no_listed_files, payload_listed_files
from hookd.core.rules import (
    ChangedFiles,
    EventFilter,
    HookRule,
    PatternFilter,
    PendingPaths,
    TraceEntry,
    Trigger,
    TriggerError,
    changed_files,
    decide_paths,
    match_hooks,
    parse_trigger,
    ref_kind,
)
from hookd.errors import HookdError

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"

GH_PUSH = "github/push/with-new-branch.payload.json"  # refs/heads/master, README.md added
GH_TAG = "github/push/payload.json"  # refs/tags/simple-tag, no commits
GL_PUSH = "gitlab/push/go-gitlab__push.json"  # refs/heads/master, CHANGELOG and app/...
GL_DELETE = "gitlab/push/go-scm__branch_delete.json"  # refs/heads/feature, no commits
GL_TAG = "gitlab/tag_push/go-gitlab__tag_push.json"  # refs/tags/v1.0.0
GITEA_PUSH = "gitea/push/go-scm__push.json"  # refs/heads/master, README.md modified
GITEA_CREATE = "gitea/create/go-playground__create-event.json"  # ref master, ref_type branch
GH_PR = "github/pull_request/opened.payload.json"  # base master
GL_MR = "gitlab/merge_request/go-gitlab__merge_request.json"  # target_branch master


@cache
def payload(name: str) -> Mapping[str, Any]:
    """A corpus payload, shared between tests: copy it (`{**payload(...)}`) to change it."""
    loaded: Mapping[str, Any] = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    return loaded


def with_ref(name: str, ref: str) -> Mapping[str, Any]:
    return {**payload(name), "ref": ref}


def fake_evaluate(expression: str, data: Mapping[str, Any]) -> bool:
    """Understands `a.b != 'x'` and `a.b == 'x'` over the payload; anything else is an error."""
    for operator in (" != ", " == "):
        if operator in expression:
            name, literal = expression.split(operator)
            value: Any = data
            for part in name.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    raise ValueError(f"'{name}' is not in the payload")
                value = value[part]
            return bool(value == literal.strip("'")) == (operator == " == ")
    raise ValueError(f"cannot read the expression {expression!r}")


def trace(
    on: object,
    event: str,
    data: str | Mapping[str, Any],
    action: str | None = None,
    condition: str | None = None,
) -> str:
    """The trace reason for one hook; a corpus file name stands for its payload."""
    rule = HookRule("deploy", parse_trigger(on), condition)
    delivery = payload(data) if isinstance(data, str) else data
    (entry,) = match_hooks(event, action, delivery, [rule], fake_evaluate)
    assert entry.hook == "deploy"
    assert entry.matched == entry.reason.startswith("matched "), entry
    return entry.reason


def changes(*files: str) -> Mapping[str, Any]:
    """A branch push whose one commit modified `files`."""
    return {"ref": "refs/heads/main", "commits": [{"modified": list(files)}]}


# --- parsing -----------------------------------------------------------------------------


def test_parses_an_event_name_star_and_a_list() -> None:
    assert parse_trigger("push") == Trigger(events=(EventFilter("push"),))
    assert parse_trigger("*") == Trigger(every_event=True)
    assert parse_trigger(["push", "create"]).events == (EventFilter("push"), EventFilter("create"))


def test_parses_a_map_of_events_to_filters() -> None:
    trigger = parse_trigger(
        {
            "push": {"branches": ["main", "release/**", "!release/old"], "paths": "site/**"},
            "pull_request": {"types": ["opened", "synchronize"], "branches-ignore": "wip/*"},
            "create": None,
        }
    )
    assert trigger.events == (
        EventFilter(
            "push",
            branches=PatternFilter("branches", ("main", "release/**", "!release/old")),
            paths=PatternFilter("paths", ("site/**",)),
        ),
        EventFilter(
            "pull_request",
            types=("opened", "synchronize"),
            branches=PatternFilter("branches-ignore", ("wip/*",)),
        ),
        EventFilter("create"),
    )
    assert trigger.find("create") == EventFilter("create")
    assert trigger.find("issues") is None


def test_parses_tag_and_ignore_filters() -> None:
    (spec,) = parse_trigger({"push": {"tags-ignore": ["v*-rc*"], "paths-ignore": "docs/**"}}).events
    assert spec.tags == PatternFilter("tags-ignore", ("v*-rc*",))
    assert spec.tags.ignore
    assert spec.paths == PatternFilter("paths-ignore", ("docs/**",))
    assert spec.branches is None


def test_types_are_not_patterns() -> None:
    assert parse_trigger({"issues": {"types": ["[x"]}}).events[0].types == ("[x",)


ON_SHAPE = "expected an event name, a list of event names, or a map of events to filters"
BOTH = "{0} and {0}-ignore cannot both be given for one event; use {0} with '!' patterns to exclude"


@pytest.mark.parametrize(
    ("on", "path", "message"),
    [
        (42, (), ON_SHAPE),
        (None, (), ON_SHAPE),
        ("", (), "an event name cannot be empty"),
        ([], (), "expected at least one event"),
        ({}, (), "expected at least one event"),
        (["push", 3], (1,), "expected an event name, not 3"),
        (["push", {"a": 1}], (1,), "expected an event name, not a map"),
        (["push", "*"], (1,), "'*' means every event and stands alone: on: '*'"),
        (["push", "create", "push"], (2,), "event 'push' is listed twice"),
        ({True: None}, (), "expected an event name, not True"),
        ({"*": {"branches": ["main"]}}, (), "'*' means every event and stands alone: on: '*'"),
        ({"push": ["main"]}, ("push",), "expected a map of filters (types, branches, "),
        ({"push": "main"}, ("push",), "expected a map of filters"),
        (
            {"push": {"branch": ["main"]}},
            ("push", "branch"),
            "unknown filter 'branch'; expected one of: types, branches, branches-ignore, "
            "tags, tags-ignore, paths, paths-ignore",
        ),
        ({"push": {"branches": 3}}, ("push", "branches"), "expected a list of strings"),
        ({"push": {"branches": None}}, ("push", "branches"), "expected a list of strings"),
        ({"push": {"paths": {"a": 1}}}, ("push", "paths"), "expected a list of strings"),
        ({"push": {"tags": []}}, ("push", "tags"), "expected at least one string"),
        ({"issues": {"types": ["opened", 2]}}, ("issues", "types", 1), "expected a string, not 2"),
        ({"push": {"tags": ["v1", None]}}, ("push", "tags", 1), "expected a string, not nothing"),
        ({"push": {"branches": [""]}}, ("push", "branches", 0), "expected a non-empty string"),
        (
            {"push": {"branches": ["main", "v[12"]}},
            ("push", "branches", 1),
            "invalid pattern 'v[12': at character 2, '[' has no closing ']'",
        ),
        ({"push": {"tags": "!v[1"}}, ("push", "tags"), "invalid pattern 'v[1'"),
        ({"push": {"paths": ["!"]}}, ("push", "paths", 0), "a pattern cannot be empty"),
        (
            {"push": {"branches": "main", "branches-ignore": "dev"}},
            ("push",),
            BOTH.format("branches"),
        ),
        ({"push": {"tags": "v*", "tags-ignore": "v0*"}}, ("push",), BOTH.format("tags")),
        (
            {"pull_request": {"paths": "a", "paths-ignore": "b"}},
            ("pull_request",),
            BOTH.format("paths"),
        ),
        (
            {"push": {"branches": ["!dev", "!wip/**"]}},
            ("push", "branches"),
            "'!' patterns only exclude what an earlier pattern included; add one without '!', "
            "or use branches-ignore to only exclude",
        ),
    ],
)
def test_rejects_invalid_triggers_with_the_path_and_a_sentence(
    on: object, path: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(TriggerError) as caught:
        parse_trigger(on)
    assert caught.value.path == path
    assert caught.value.message.startswith(message)


def test_trigger_error_reads_as_a_path_and_a_sentence() -> None:
    with pytest.raises(TriggerError) as caught:
        parse_trigger({"push": {"branches": ["main", 7]}})
    assert str(caught.value) == "on.push.branches[1]: expected a string, not 7"
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, HookdError)


# --- events and types --------------------------------------------------------------------


def test_an_event_not_listed_does_not_match() -> None:
    assert trace(["push", "pull_request"], "issues", {}, "opened") == (
        "on: event 'issues' is not one of [push, pull_request]"
    )


def test_star_and_listed_events_match() -> None:
    assert trace("*", "pull_request", GH_PR, "closed") == "matched on: '*'"
    assert trace("push", "push", GH_PUSH) == "matched on.push"
    assert trace(["create", "push"], "push", GH_TAG) == "matched on.push"


def test_types_match_the_action() -> None:
    on = {"pull_request": {"types": ["opened", "synchronize"]}}
    assert trace(on, "pull_request", GH_PR, "opened") == "matched on.pull_request"
    assert trace(on, "pull_request", GH_PR, "closed") == (
        "on.pull_request.types: action 'closed' is not one of [opened, synchronize]"
    )
    assert trace({"push": {"types": "created"}}, "push", GITEA_PUSH) == (
        "on.push.types: the delivery has no action; expected one of [created]"
    )


def test_pull_request_defaults_to_githubs_activity_types() -> None:
    for action in ("opened", "synchronize", "reopened"):
        assert trace("pull_request", "pull_request", GH_PR, action) == "matched on.pull_request"
    assert trace(["pull_request_target"], "pull_request_target", {}, "closed") == (
        "on.pull_request_target.types: action 'closed' is not one of "
        "[opened, synchronize, reopened] (GitHub's default for pull_request_target)"
    )
    closed = trace({"pull_request": {"types": "closed"}}, "pull_request", GH_PR, "closed")
    assert closed == "matched on.pull_request"


def test_other_events_match_every_action_by_default() -> None:
    assert trace("issues", "issues", {}, "deleted") == "matched on.issues"


# --- branches and tags -------------------------------------------------------------------


def test_branches_match_the_pushed_branch_of_every_forge() -> None:
    for name in (GH_PUSH, GL_PUSH, GITEA_PUSH):
        assert trace({"push": {"branches": ["main", "master"]}}, "push", name) == "matched on.push"


def test_branches_say_which_patterns_the_branch_missed() -> None:
    on = {"push": {"branches": ["main", "release/**"]}}
    assert trace(on, "push", with_ref(GH_PUSH, "refs/heads/dev")) == (
        "on.push.branches: 'dev' matches none of [main, release/**]"
    )


def test_branches_excluded_by_a_later_negation_and_included_again() -> None:
    on = {"push": {"branches": ["main", "release/**", "!release/old", "release/old/lts"]}}
    assert trace(on, "push", with_ref(GH_PUSH, "refs/heads/release/old")) == (
        "on.push.branches: 'release/old' is excluded by '!release/old'"
    )
    assert trace(on, "push", with_ref(GH_PUSH, "refs/heads/release/v2/x")) == "matched on.push"
    assert trace(on, "push", with_ref(GH_PUSH, "refs/heads/release/old/lts")) == "matched on.push"


def test_branches_ignore_skips_matching_branches() -> None:
    on = {"push": {"branches-ignore": ["dev*", "!dev-keep"]}}
    assert trace(on, "push", GH_PUSH) == "matched on.push"
    assert trace(on, "push", with_ref(GH_PUSH, "refs/heads/dev-1")) == (
        "on.push.branches-ignore: 'dev-1' is ignored by 'dev*'"
    )
    assert trace(on, "push", with_ref(GH_PUSH, "refs/heads/dev-keep")) == "matched on.push"


def test_tags_match_the_pushed_tag() -> None:
    assert trace({"push": {"tags": "v[12].[0-9]+.[0-9]+"}}, "push", GL_TAG) == "matched on.push"
    assert trace({"push": {"tags": ["v2*"]}}, "push", GL_TAG) == (
        "on.push.tags: 'v1.0.0' matches none of [v2*]"
    )
    assert trace({"push": {"tags-ignore": "simple-*"}}, "push", GH_TAG) == (
        "on.push.tags-ignore: 'simple-tag' is ignored by 'simple-*'"
    )


def test_only_tag_filters_do_not_match_branch_pushes() -> None:
    assert trace({"push": {"tags": ["v*"]}}, "push", GL_PUSH) == (
        "on.push.tags: 'refs/heads/master' is a branch, not a tag"
    )
    assert trace({"push": {"tags-ignore": ["v0*"]}}, "push", GH_PUSH) == (
        "on.push.tags-ignore: 'refs/heads/master' is a branch, not a tag"
    )


def test_only_branch_filters_do_not_match_tag_pushes() -> None:
    assert trace({"push": {"branches": ["**"]}}, "push", GH_TAG) == (
        "on.push.branches: 'refs/tags/simple-tag' is a tag, not a branch"
    )
    assert trace({"push": {"branches-ignore": ["dev"]}}, "push", GL_TAG) == (
        "on.push.branches-ignore: 'refs/tags/v1.0.0' is a tag, not a branch"
    )


def test_branch_and_tag_filters_each_apply_to_their_kind() -> None:
    on = {"push": {"branches": ["master"], "tags": ["v*"]}}
    assert trace(on, "push", GL_PUSH) == "matched on.push"
    assert trace(on, "push", GL_TAG) == "matched on.push"
    assert trace(on, "push", GH_TAG) == "on.push.tags: 'simple-tag' matches none of [v*]"


def test_without_branch_or_tag_filters_both_match() -> None:
    assert trace({"push": None}, "push", GH_TAG) == "matched on.push"
    assert trace({"push": {}}, "push", GH_PUSH) == "matched on.push"


def test_pull_request_branches_filter_the_base_branch() -> None:
    on = {"pull_request": {"branches": ["master"]}}
    assert trace(on, "pull_request", GH_PR, "opened") == "matched on.pull_request"
    assert trace(on, "pull_request", GL_MR, "opened") == "matched on.pull_request"
    assert trace({"pull_request": {"branches": "main"}}, "pull_request", GL_MR, "opened") == (
        "on.pull_request.branches: 'master' matches none of [main]"
    )
    assert trace({"pull_request": {"tags": "v*"}}, "pull_request", GH_PR, "opened") == (
        "on.pull_request.tags: 'master' is a branch, not a tag"
    )


def test_bare_refs_use_ref_type() -> None:
    assert trace({"create": {"branches": "master"}}, "create", GITEA_CREATE) == "matched on.create"
    assert trace({"create": {"tags": ["v*"]}}, "create", GITEA_CREATE) == (
        "on.create.tags: 'master' is a branch, not a tag"
    )
    tag = {"ref": "v1.2.0", "ref_type": "tag"}
    assert trace({"create": {"tags": ["v1.*"]}}, "create", tag) == "matched on.create"


def test_branch_and_tag_filters_need_a_ref() -> None:
    assert trace({"issues": {"branches": ["main"]}}, "issues", {}, "opened") == (
        "on.issues.branches: the delivery has no branch or tag"
    )
    assert trace({"push": {"tags": ["v*"]}}, "push", {"ref": "refs/notes/x"}) == (
        "on.push.tags: the delivery has no branch or tag"
    )


# --- paths -------------------------------------------------------------------------------


def test_changed_files_are_the_union_over_commits() -> None:
    assert changed_files(payload(GL_PUSH)) == ("CHANGELOG", "app/controller/application.rb")
    assert changed_files(payload(GITEA_PUSH)) == ("README.md",)
    push = {
        "commits": [
            {"added": ["a.txt"], "modified": ["b.txt"], "removed": []},
            {"added": [], "modified": ["a.txt"], "removed": ["c/d.txt"]},
        ]
    }
    assert changed_files(push) == ("a.txt", "b.txt", "c/d.txt")
    assert changed_files(payload(GH_TAG)) == ()
    assert changed_files({}) == ()


def test_paths_match_when_any_changed_file_matches() -> None:
    assert trace({"push": {"paths": ["app/**"]}}, "push", GL_PUSH) == "matched on.push"
    assert trace({"push": {"paths": ["site/**"]}}, "push", GH_PUSH) == (
        "on.push.paths: no changed file matches [site/**]"
    )


def test_paths_match_a_file_any_commit_removed() -> None:
    push = {
        "ref": "refs/heads/main",
        "commits": [{"added": ["README.md"]}, {"removed": ["site/old.html"]}],
    }
    assert trace({"push": {"paths": ["site/**"]}}, "push", push) == "matched on.push"


def test_paths_negations_apply_per_file() -> None:
    on = {"push": {"paths": ["docs/**", "!docs/drafts/**"]}}
    assert trace(on, "push", changes("docs/drafts/a.md")) == (
        "on.push.paths: no changed file matches [docs/**, !docs/drafts/**]"
    )
    assert trace(on, "push", changes("docs/drafts/a.md", "docs/b.md")) == "matched on.push"


def test_paths_ignore_skips_only_when_every_file_is_ignored() -> None:
    on = {"push": {"paths-ignore": ["**.md", "CHANGELOG"]}}
    assert trace(on, "push", GH_PUSH) == (
        "on.push.paths-ignore: every changed file matches [**.md, CHANGELOG]"
    )
    assert trace(on, "push", GL_PUSH) == "matched on.push"
    keep = {"push": {"paths-ignore": ["docs/**", "!docs/api/**"]}}
    assert trace(keep, "push", changes("docs/a.md", "docs/api/b.md")) == "matched on.push"


def test_paths_are_not_checked_for_tags() -> None:
    on = {"push": {"tags": ["v*"], "paths": ["nothing/**"]}}
    assert trace(on, "push", GL_TAG) == "matched on.push"
    assert trace({"push": {"paths": ["nothing/**"]}}, "push", GH_TAG) == "matched on.push"


def test_paths_need_a_list_of_changed_files() -> None:
    assert trace({"push": {"paths": ["**"]}}, "push", GL_DELETE) == (
        "on.push.paths: the delivery lists no changed files"
    )
    assert trace({"push": {"paths-ignore": ["docs/**"]}}, "push", {"ref": "refs/heads/x"}) == (
        "on.push.paths-ignore: the delivery lists no changed files"
    )


def test_a_pull_requests_paths_run_by_github_actions_rule_when_no_api_can_list_them() -> None:
    assert trace({"pull_request": {"paths": ["**"]}}, "pull_request", GH_PR, "opened") == (
        "matched on.pull_request; on.pull_request.paths: the changed files cannot be "
        "determined (the payload does not list them); the hook runs, as GitHub Actions "
        "runs a workflow whose changed files cannot be determined"
    )


def test_paths_left_to_the_job_when_an_api_lists_the_files() -> None:
    rule = HookRule("h", parse_trigger({"pull_request": {"paths": ["docs/**"]}}))
    files = ChangedFiles(None, fetched_by="GitHub's API")
    (entry,) = match_hooks(
        "pull_request", "opened", payload(GH_PR), [rule], fake_evaluate, files=files
    )
    assert entry.matched
    assert entry.reason == (
        "matched on.pull_request; on.pull_request.paths: decided when the job starts, "
        "on the files GitHub's API lists"
    )
    assert entry.pending == PendingPaths("pull_request", PatternFilter("paths", ("docs/**",)))
    assert PendingPaths.from_json(entry.pending.to_json()) == entry.pending


def test_a_false_if_wins_over_a_pending_paths_filter() -> None:
    rule = HookRule("h", parse_trigger({"pull_request": {"paths": ["docs/**"]}}), "false")
    files = ChangedFiles(None, fetched_by="GitHub's API")
    (entry,) = match_hooks(
        "pull_request", "opened", payload(GH_PR), [rule], fake_evaluate, files=files
    )
    assert not entry.matched
    assert entry.pending is None


def test_a_pending_paths_filter_is_decided_on_the_listed_files() -> None:
    pending = PendingPaths("pull_request", PatternFilter("paths", ("docs/**",)))
    assert decide_paths(pending, ["docs/a.md", "src/b.py"], "the API") is None
    assert decide_paths(pending, ["src/b.py", "README"], "GitHub's pull request files API") == (
        "on.pull_request.paths: no changed file matches [docs/**] (2 files from GitHub's "
        "pull request files API)"
    )
    ignore = PendingPaths("push", PatternFilter("paths-ignore", ("docs/**",)))
    assert decide_paths(ignore, ["docs/a.md"], "X") == (
        "on.push.paths-ignore: every changed file matches [docs/**] (1 file from X)"
    )
    assert decide_paths(ignore, ["docs/a.md", "src/b.py"], "X") is None


@pytest.mark.parametrize(
    "bad",
    [{}, {"event": "push", "key": "branches", "patterns": []}, {"event": "push", "key": "paths"}],
)
def test_a_pending_filter_is_read_back_only_from_its_own_shape(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PendingPaths.from_json(bad)


def test_payloads_that_cut_their_commits_do_not_list_every_file() -> None:
    gitlab = {**payload(GL_PUSH), "total_commits_count": 2}  # the corpus's says 4 of its 2
    assert payload_listed_files("push", gitlab) == ("CHANGELOG", "app/controller/application.rb")
    assert payload_listed_files("push", payload(GL_PUSH)) is None
    assert payload_listed_files("push", {**gitlab, "total_commits_count": 25}) is None
    assert payload_listed_files("push", {**gitlab, "total_commits": 30}) is None
    capped = {"commits": [{"id": str(n), "added": ["a"]} for n in range(GITHUB_COMMITS_CAP)]}
    assert payload_listed_files("push", capped) is None
    assert payload_listed_files("push", {"commits": capped["commits"][:-1]}) == ("a",)
    assert payload_listed_files("pull_request", payload(GH_PR)) is None
    assert no_listed_files("push", gitlab) is None


def test_branches_are_checked_before_paths() -> None:
    on = {"push": {"branches": ["main"], "paths": ["site/**"]}}
    assert trace(on, "push", GL_PUSH) == "on.push.branches: 'master' matches none of [main]"
    on = {"push": {"branches": ["master"], "paths": ["site/**"]}}
    assert trace(on, "push", GL_PUSH) == "on.push.paths: no changed file matches [site/**]"


# --- if: and the trace -------------------------------------------------------------------


def test_if_is_evaluated_after_on_matched() -> None:
    login = payload(GH_PUSH)["sender"]["login"]
    assert trace("push", "push", GH_PUSH, condition=f"sender.login == '{login}'") == (
        f"matched on.push and if: sender.login == '{login}'"
    )
    assert trace("push", "push", GH_PUSH, condition=f"sender.login != '{login}'") == (
        f"if: sender.login != '{login}' is false"
    )


def test_if_errors_become_the_reason() -> None:
    assert trace("push", "push", GITEA_PUSH, condition="nobody.login == 'x'") == (
        "if: 'nobody.login' is not in the payload"
    )


def test_if_is_not_evaluated_when_on_does_not_match() -> None:
    calls: list[str] = []

    def evaluate(expression: str, data: Mapping[str, Any]) -> bool:
        calls.append(expression)
        return True

    rules = [
        HookRule("skipped", parse_trigger("issues"), "true"),
        HookRule("checked", parse_trigger("push"), "true"),
    ]
    trace = match_hooks("push", None, payload(GH_PUSH), rules, evaluate)
    assert calls == ["true"]
    assert [entry.matched for entry in trace] == [False, True]


def test_match_hooks_traces_every_rule_in_order() -> None:
    rules = [
        HookRule("deploy", parse_trigger({"push": {"branches": ["main"]}})),
        HookRule("docs", parse_trigger({"push": {"paths": ["app/**"]}})),
        HookRule("thank", parse_trigger({"pull_request": {"types": ["opened"]}})),
        HookRule("all", parse_trigger("*"), "user_name != 'nobody'"),
    ]
    assert match_hooks("push", None, payload(GL_PUSH), rules, fake_evaluate) == (
        TraceEntry("deploy", False, "on.push.branches: 'master' matches none of [main]"),
        TraceEntry("docs", True, "matched on.push"),
        TraceEntry("thank", False, "on: event 'push' is not one of [pull_request]"),
        TraceEntry("all", True, "matched on: '*' and if: user_name != 'nobody'"),
    )
    assert match_hooks("push", None, {}, [], fake_evaluate) == ()


@pytest.mark.parametrize(
    ("ref", "kind"),
    [
        ("refs/heads/main", ("branch", "main")),
        ("refs/heads/feature/x", ("branch", "feature/x")),
        ("refs/tags/v1.0.0", ("tag", "v1.0.0")),
        ("refs/heads/", None),
        ("refs/pull/1/head", None),
        ("main", None),
    ],
)
def test_ref_kind_tells_branches_from_tags(ref: str, kind: tuple[str, str] | None) -> None:
    assert ref_kind(ref) == kind
