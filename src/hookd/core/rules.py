"""Which hooks a delivery runs: each hook's `on:` filters and `if:`, with GitHub Actions' meaning.

`parse_trigger` reads a hook's `on:`; `match_hooks` returns the trace: for each hook, matched,
or the first condition that did not hold, as a sentence. The filters mean what "Workflow
syntax for GitHub Actions" says of `on.<event>.types` and `on.<event>.<branches|tags|paths>`
and their `-ignore` forms; hookd accepts them on every event, for every forge's payloads:

- `types` lists actions in GitHub's words. Without it, `pull_request` and
  `pull_request_target` run only for `opened`, `synchronize` and `reopened` (GitHub's
  default); other events run for every action.
- `branches`/`tags` look at the ref: for `pull_request*` events the base branch, else `ref`
  (`refs/heads/...`, `refs/tags/...`, or a bare name with `ref_type` as in `create`). With
  only branch filters tags do not match, and vice versa; with neither, both do. A delivery
  without a ref does not match branch or tag filters.
- `paths`/`paths-ignore` look at the changed files (`ChangedFiles`). When the payload lists
  every one (most pushes), they decide at once; a delivery listing none does not match.
  When it does not (pull and merge requests, a push whose commits the forge cut: the forge's
  profile says, `Facts.listed_files`), the decision is three-valued: with a forge API to
  ask, the hook matches *pending* its paths filter (`TraceEntry.pending`), decided by
  `decide_paths` on the files the API lists when the job starts; with none, the hook runs,
  as GitHub Actions runs a workflow whose changed files cannot be determined ("If you push
  more than 1,000 commits, or if GitHub does not generate the diff due to a timeout, the
  workflow will always run": Workflow syntax for GitHub Actions, `on.<push|pull_request>.
  paths`). The trace says which. As on GitHub, path filters are not checked for tags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hookd.core.globs import compile_glob, deciding_pattern, filter_matches
from hookd.core.payload_reads import EACH, Step
from hookd.errors import HookdError

FILTERS = ("types", "branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore")
"""The keys a map under `on.<event>` may have, in the order messages list them."""

# "Events that trigger workflows", pull_request (and pull_request_target): "By default, a
# workflow only runs when a pull_request event's activity type is opened, synchronize, or
# reopened."
DEFAULT_TYPES: Mapping[str, tuple[str, ...]] = {
    "pull_request": ("opened", "synchronize", "reopened"),
    "pull_request_target": ("opened", "synchronize", "reopened"),
}

Evaluate = Callable[[str, Mapping[str, Any]], bool]
"""Evaluates an `if:` expression over a payload; raises ValueError (render's RenderError is
one) whose str() is a sentence when it cannot."""


class TriggerError(HookdError, ValueError):
    """A hook's `on:` is invalid. `path` leads from `on` to the value at fault."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{_format_path(('on', *self.path))}: {self.message}"


@dataclass(frozen=True)
class PatternFilter:
    """One of `branches`, `tags` or `paths`, or its `-ignore` form: the key and its patterns."""

    key: str
    patterns: tuple[str, ...]

    @property
    def ignore(self) -> bool:
        """Whether a matching value is skipped (`-ignore`) rather than wanted."""
        return self.key.endswith("-ignore")


@dataclass(frozen=True)
class EventFilter:
    """An event named under `on:`, with its filters; None where a filter is not given.

    GitHub allows only one of `branches`/`branches-ignore` per event (and so for tags and
    paths), so each family holds at most one `PatternFilter`.
    """

    event: str
    types: tuple[str, ...] | None = None
    branches: PatternFilter | None = None
    tags: PatternFilter | None = None
    paths: PatternFilter | None = None


@dataclass(frozen=True)
class Trigger:
    """A hook's `on:`: every event (`"*"`), or the events listed, in the order written."""

    events: tuple[EventFilter, ...] = ()
    every_event: bool = False

    def find(self, event: str) -> EventFilter | None:
        """The filters for `event`, or None if the trigger does not list it."""
        return next((spec for spec in self.events if spec.event == event), None)


@dataclass(frozen=True)
class HookRule:
    """What decides whether a hook runs: its `on:` and its `if:` expression's source."""

    name: str
    trigger: Trigger
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class RefTarget:
    """The ref the branch and tag filters look at when the forge's profile reads it rather
    than the matcher (core.facts): a push's `ref` (one of a delivery's several), and the
    base branch (a bare name) `pull_request*` events look at."""

    ref: str | None
    base: str | None = None


@dataclass(frozen=True, slots=True)
class ChangedFiles:
    """What the paths filters know of a delivery's changed files.

    `listed` is every changed file when the payload lists them all, else None. Then
    `fetched_by` names who lists them when a job starts (`GitHub's API`), or is None when
    nobody can, and `unknown_because` says why the payload's list will not do."""

    listed: tuple[str, ...] | None
    fetched_by: str | None = None
    unknown_because: str = "the payload does not list them"


@dataclass(frozen=True, slots=True)
class PendingPaths:
    """A paths filter left for the job to decide, on the files a forge's API lists."""

    event: str
    filter: PatternFilter

    @property
    def where(self) -> str:
        return f"on.{self.event}.{self.filter.key}"

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "key": self.filter.key, "patterns": list(self.filter.patterns)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingPaths:
        """The value `to_json` wrote; ValueError for anything else."""
        event, key, patterns = data.get("event"), data.get("key"), data.get("patterns")
        if not isinstance(event, str) or key not in ("paths", "paths-ignore"):
            raise ValueError("not a pending paths filter")
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ValueError("a pending paths filter without its patterns")
        return cls(event, PatternFilter(str(key), tuple(patterns)))


@dataclass(frozen=True)
class TraceEntry:
    """Whether a hook matched a delivery, and why: a sentence for people (see `match_hooks`).
    `pending`: matched, but its paths filter is decided when the job starts."""

    hook: str
    matched: bool
    reason: str
    pending: PendingPaths | None = None


def parse_trigger(value: object) -> Trigger:
    """The `Trigger` for the raw YAML value of a hook's `on:`.

    Accepts an event name, `"*"` for every event, a list of event names, or a map of event
    names to nothing or to a map of filters (`FILTERS`), each a string or a list of
    strings. Raises TriggerError for the first problem found.
    """
    if isinstance(value, str):
        if value == "*":
            return Trigger(every_event=True)
        return Trigger(events=(EventFilter(_event_name(value, ())),))
    if isinstance(value, list | tuple | Mapping) and not value:
        raise TriggerError((), "expected at least one event")
    if isinstance(value, list | tuple):
        names = [_event_name(item, (index,)) for index, item in enumerate(value)]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise TriggerError((index,), f"event {name!r} is listed twice")
        return Trigger(events=tuple(EventFilter(name) for name in names))
    if isinstance(value, Mapping):
        return Trigger(events=tuple(_parse_event(_event_name(k, ()), v) for k, v in value.items()))
    raise TriggerError(
        (), "expected an event name, a list of event names, or a map of events to filters"
    )


def match_hooks(
    event: str,
    action: str | None,
    payload: Mapping[str, Any],
    rules: Sequence[HookRule],
    evaluate: Evaluate,
    target: RefTarget | None = None,
    files: ChangedFiles | None = None,
) -> tuple[TraceEntry, ...]:
    """One `TraceEntry` per rule, in order: does the delivery run that hook, and why.

    `target`, when given, is the ref the branch and tag filters look at; without it they
    read the payload's `ref` (GitHub's, GitLab's and Gitea's shapes). `files` is what the
    paths filters know of the changed files; without it, the payload's commits list them
    all (`changed_files`), or, for `pull_request*` events, none is listed and none can be
    fetched.

    `event` and `action` are hookd's names (GitHub's words). A rule matches when its `on:`
    holds and then, if it has one, its `if:` evaluates true; `if:` is evaluated only after
    `on:` matched, and a ValueError from `evaluate` is a non-match whose reason is
    `if: <its message>`. Reasons read, for instance:

    - `matched on.push`, `matched on: '*'`, `matched on.push and if: <expression>`
    - `on: event 'issues' is not one of [push, pull_request]`
    - `on.pull_request.types: action 'closed' is not one of [opened, synchronize]`
    - `on.push.branches: 'dev' matches none of [main, release/**]`
    - `on.push.branches: 'release/old' is excluded by '!release/old'`
    - `on.push.branches-ignore: 'dev' is ignored by 'dev*'`
    - `on.push.tags: 'refs/heads/main' is a branch, not a tag`
    - `on.push.paths: no changed file matches [site/**]`
    - `on.push.paths-ignore: every changed file matches [docs/**]`
    - `matched on.pull_request; on.pull_request.paths: decided when the job starts, on the
      files GitHub's API lists` (pending)
    - `matched on.pull_request; on.pull_request.paths: the changed files cannot be
      determined (<why>); the hook runs, as GitHub Actions runs a workflow whose changed
      files cannot be determined`
    - `if: <expression> is false`, or `if: <the evaluator's error>`
    """
    if files is None:
        files = ChangedFiles(None if event.startswith("pull_request") else changed_files(payload))
    return tuple(
        _match_rule(rule, event, action, payload, evaluate, target, files) for rule in rules
    )


UNDETERMINED_RULE = "as GitHub Actions runs a workflow whose changed files cannot be determined"
"""Why a hook whose paths filter cannot be decided runs (see the module's docstring)."""


def undetermined(where: str, why: str) -> str:
    """The sentence for a paths filter decided by GitHub Actions' rule, not by files."""
    cannot = f"the changed files cannot be determined ({why})"
    return f"{where}: {cannot}; the hook runs, {UNDETERMINED_RULE}"


def decide_paths(pending: PendingPaths, files: Sequence[str], source: str) -> str | None:
    """Why the job of a hook matched pending its paths filter does not run, given every
    changed file as `source` lists them (`GitHub's pull request files API`); None: it runs."""
    failure = _files_failure(pending.where, pending.filter, files)
    if failure is None:
        return None
    count = f"{len(files)} file{'' if len(files) == 1 else 's'}"
    return f"{failure} ({count} from {source})"


REF_READS = (
    ("ref",),
    ("ref_type",),
    ("pull_request", "base", "ref"),
    ("object_attributes", "target_branch"),
)
"""The payload paths the branch and tag filters read."""

CHANGED_FILES_READS = (
    *(("commits", EACH, key) for key in ("added", "modified", "removed", "id")),
    ("total_commits_count",),
    ("total_commits",),
)
"""The payload paths `changed_files` reads, and those that tell whether the forge cut the
commits it lists (core.facts.payload_listed_files)."""


def trigger_reads(trigger: Trigger) -> tuple[tuple[Step, ...], ...]:
    """The payload paths matching a delivery against `trigger` reads (`if:` aside)."""
    with_paths = any(spec.paths is not None for spec in trigger.events)
    return REF_READS + (CHANGED_FILES_READS if with_paths else ())


def changed_files(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The files a push's commits added, modified or removed: each once, in first-listed order.

    GitHub, Gitea and GitLab push payloads all list them per commit, in `commits[].added`,
    `modified` and `removed`. Forges cap how many commits a payload lists, so files touched
    only by commits left out are not seen. Empty when the payload lists no commits.
    """
    commits = payload.get("commits")
    files: dict[str, None] = {}
    for commit in commits if isinstance(commits, list) else ():
        for key in ("added", "modified", "removed"):
            listed = commit.get(key) if isinstance(commit, Mapping) else None
            if isinstance(listed, list):
                files.update((name, None) for name in listed if isinstance(name, str))
    return tuple(files)


def ref_kind(ref: str) -> tuple[str, str] | None:
    """`("branch", name)` for `refs/heads/<name>`, `("tag", name)` for `refs/tags/<name>`,
    else None."""
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return kind, ref[len(prefix) :]
    return None


def _format_path(path: Sequence[str | int]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)[1:]


def _describe(value: object) -> str:
    """What a YAML value is, for messages: `a map`, `a list`, `nothing`, or the scalar itself."""
    if isinstance(value, Mapping | list | tuple):
        return "a map" if isinstance(value, Mapping) else "a list"
    return "nothing" if value is None else repr(value)


def _event_name(value: object, path: tuple[str | int, ...]) -> str:
    if not isinstance(value, str):
        raise TriggerError(path, f"expected an event name, not {_describe(value)}")
    if not value:
        raise TriggerError(path, "an event name cannot be empty")
    if value == "*":
        raise TriggerError(path, "'*' means every event and stands alone: on: '*'")
    return value


def _parse_event(event: str, value: object) -> EventFilter:
    if value is None:
        return EventFilter(event)
    if not isinstance(value, Mapping):
        raise TriggerError((event,), f"expected a map of filters ({', '.join(FILTERS)}) or nothing")
    found: dict[str, tuple[str, ...]] = {}
    for key, raw in value.items():
        if key not in FILTERS:
            raise TriggerError(
                (event, str(key)), f"unknown filter {key!r}; expected one of: {', '.join(FILTERS)}"
            )
        found[key] = _parse_strings(raw, (event, key))
    return EventFilter(
        event=event,
        types=found.get("types"),
        branches=_family(event, "branches", found),
        tags=_family(event, "tags", found),
        paths=_family(event, "paths", found),
    )


def _parse_strings(raw: object, path: tuple[str, str]) -> tuple[str, ...]:
    """A filter's value: a string or a non-empty list of non-empty strings, patterns valid."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise TriggerError(path, "expected a list of strings")
    if not items:
        raise TriggerError(path, "expected at least one string")
    for index, item in enumerate(items):
        where = path if isinstance(raw, str) else (*path, index)
        if not isinstance(item, str):
            raise TriggerError(where, f"expected a string, not {_describe(item)}")
        if not item:
            raise TriggerError(where, "expected a non-empty string")
        if path[1] != "types":
            try:
                compile_glob(item.removeprefix("!"))
            except ValueError as error:
                raise TriggerError(where, str(error)) from None
    return tuple(items)


def _family(event: str, family: str, found: Mapping[str, tuple[str, ...]]) -> PatternFilter | None:
    """The one filter of `family` (`branches`, `tags` or `paths`) given for `event`, if any."""
    include, ignore = found.get(family), found.get(f"{family}-ignore")
    if include is not None and ignore is not None:
        # "You cannot use both the branches and branches-ignore filter for the same event in
        # a workflow" (and likewise tags and paths): Workflow syntax for GitHub Actions.
        raise TriggerError(
            (event,),
            f"{family} and {family}-ignore cannot both be given for one event; "
            f"use {family} with '!' patterns to exclude",
        )
    if include is not None:
        if all(pattern.startswith("!") for pattern in include):
            # "If you define a path with the ! character, you must also define at least one
            # path without the ! character": Workflow syntax for GitHub Actions.
            raise TriggerError(
                (event, family),
                f"'!' patterns only exclude what an earlier pattern included; add one "
                f"without '!', or use {family}-ignore to only exclude",
            )
        return PatternFilter(family, include)
    return None if ignore is None else PatternFilter(f"{family}-ignore", ignore)


def _match_rule(
    rule: HookRule,
    event: str,
    action: str | None,
    payload: Mapping[str, Any],
    evaluate: Evaluate,
    target: RefTarget | None,
    files: ChangedFiles,
) -> TraceEntry:
    verdict = _trigger_failure(rule.trigger, event, action, payload, target, files)
    failure = verdict if isinstance(verdict, str) else None
    if failure is None and rule.condition is not None:
        failure = _if_failure(rule.condition, payload, evaluate)
    if failure is not None:
        return TraceEntry(rule.name, False, failure)
    where = "on: '*'" if rule.trigger.every_event else f"on.{event}"
    reason = f"matched {where}"
    if rule.condition is not None:
        reason += f" and if: {rule.condition}"
    if isinstance(verdict, _Deferred):
        return TraceEntry(rule.name, True, f"{reason}; {verdict.note}", verdict.pending)
    return TraceEntry(rule.name, True, reason)


@dataclass(frozen=True, slots=True)
class _Deferred:
    """A paths filter the delivery's files do not decide: `pending` when a job decides it
    later, None when the hook runs by GitHub Actions' rule; `note` says which."""

    note: str
    pending: PendingPaths | None


def _trigger_failure(
    trigger: Trigger,
    event: str,
    action: str | None,
    payload: Mapping[str, Any],
    target: RefTarget | None,
    files: ChangedFiles,
) -> str | _Deferred | None:
    """Why `on:` does not hold for the delivery, None if it does, or how its paths filter
    is left undecided."""
    if trigger.every_event:
        return None
    spec = trigger.find(event)
    if spec is None:
        names = ", ".join(listed.event for listed in trigger.events)
        return f"on: event {event!r} is not one of [{names}]"
    ref = _target_ref(event, payload, target)
    failure = _types_failure(spec, action) or _ref_failure(spec, ref)
    return failure or _paths_failure(spec, ref, files)


def _types_failure(spec: EventFilter, action: str | None) -> str | None:
    types = spec.types if spec.types is not None else DEFAULT_TYPES.get(spec.event)
    if types is None:
        return None
    where = f"on.{spec.event}.types"
    listed = f"[{', '.join(types)}]"
    if spec.types is None:
        listed += f" (GitHub's default for {spec.event})"
    if action is None:
        return f"{where}: the delivery has no action; expected one of {listed}"
    if action not in types:
        return f"{where}: action {action!r} is not one of {listed}"
    return None


def _target_ref(
    event: str, payload: Mapping[str, Any], target: RefTarget | None
) -> tuple[str, str, str] | None:
    """`(kind, name, as the payload wrote it)` of the ref branch and tag filters look at."""
    if event.startswith("pull_request"):
        base = _base_branch(payload) if target is None else target.base
        return None if base is None else ("branch", base, base)
    ref = payload.get("ref") if target is None else target.ref
    if not isinstance(ref, str) or not ref:
        return None
    kind = ref_kind(ref)
    if kind is not None:
        return kind[0], kind[1], ref
    ref_type = payload.get("ref_type")
    if ref_type in ("branch", "tag"):
        return str(ref_type), ref, ref
    return None


def _base_branch(payload: Mapping[str, Any]) -> str | None:
    """A pull request's base: GitHub's and Gitea's `pull_request.base.ref`, GitLab's
    `object_attributes.target_branch`."""
    pull = payload.get("pull_request")
    base = pull.get("base") if isinstance(pull, Mapping) else None
    if isinstance(base, Mapping) and isinstance(base.get("ref"), str):
        return str(base["ref"])
    attrs = payload.get("object_attributes")
    if isinstance(attrs, Mapping) and isinstance(attrs.get("target_branch"), str):
        return str(attrs["target_branch"])
    return None


def _ref_failure(spec: EventFilter, ref: tuple[str, str, str] | None) -> str | None:
    given = spec.branches or spec.tags
    if given is None:
        return None
    if ref is None:
        return f"on.{spec.event}.{given.key}: the delivery has no branch or tag"
    kind, name, written = ref
    wanted = spec.branches if kind == "branch" else spec.tags
    if wanted is None:
        # "If you define only tags/tags-ignore or only branches/branches-ignore, the
        # workflow won't run for events affecting the undefined Git ref."
        other = "tag" if kind == "branch" else "branch"
        return f"on.{spec.event}.{given.key}: {written!r} is a {kind}, not a {other}"
    return _pattern_failure(f"on.{spec.event}.{wanted.key}", wanted, name)


def _pattern_failure(where: str, flt: PatternFilter, value: str) -> str | None:
    decided = deciding_pattern(flt.patterns, value)
    included = decided is not None and not decided.startswith("!")
    if flt.ignore:
        return f"{where}: {value!r} is ignored by {decided!r}" if included else None
    if included:
        return None
    if decided is None:
        return f"{where}: {value!r} matches none of [{', '.join(flt.patterns)}]"
    return f"{where}: {value!r} is excluded by {decided!r}"


def _paths_failure(
    spec: EventFilter, ref: tuple[str, str, str] | None, files: ChangedFiles
) -> str | _Deferred | None:
    flt = spec.paths
    # "Path filters are not evaluated for pushes of tags." (Workflow syntax for GitHub Actions)
    if flt is None or (ref is not None and ref[0] == "tag"):
        return None
    where = f"on.{spec.event}.{flt.key}"
    if files.listed is None:
        if files.fetched_by is None:
            return _Deferred(undetermined(where, files.unknown_because), None)
        note = f"{where}: decided when the job starts, on the files {files.fetched_by} lists"
        return _Deferred(note, PendingPaths(spec.event, flt))
    if not files.listed:
        return f"{where}: the delivery lists no changed files"
    return _files_failure(where, flt, files.listed)


def _files_failure(where: str, flt: PatternFilter, files: Sequence[str]) -> str | None:
    listed = f"[{', '.join(flt.patterns)}]"
    matching = [filter_matches(flt.patterns, name) for name in files]
    # "If all the path names match patterns in paths-ignore, the workflow will not run."
    if flt.ignore and all(matching):
        return f"{where}: every changed file matches {listed}"
    # "If at least one path matches a pattern in the paths filter, the workflow runs."
    if not flt.ignore and not any(matching):
        return f"{where}: no changed file matches {listed}"
    return None


def _if_failure(condition: str, payload: Mapping[str, Any], evaluate: Evaluate) -> str | None:
    try:
        holds = evaluate(condition, payload)
    except ValueError as error:  # the evaluator's errors are sentences meant for the trace
        return f"if: {error}"
    return None if holds else f"if: {condition} is false"
