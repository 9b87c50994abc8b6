"""Intake: match a verified delivery against its endpoint's hooks and plan its jobs.
Used by the receiver and by replay, so both decide the same way.

A delivery that moved several refs (a Bitbucket push's `changes[]`) is matched once per
ref, as if the forge had sent one delivery per ref (as GitHub does): a hook gets a job for
each ref it matches, the job knows its ref (`NewJob.ref`), and the trace lists them.

A payload that does not list every changed file (a pull request's, a push whose commits the
forge cut: `Facts.listed_files`) leaves the `paths:` filters to the job when the endpoint
has the forge's API credentials (`files_knowledge`): the job is queued with its filter
(`NewJob.paths_filter`) and hookd.changed_files asks the API when it starts. No forge API
is called here: answering a delivery stays fast."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hookd.changed_files.apis import FILE_APIS
from hookd.config import Config
from hookd.config.model import EndpointSettings
from hookd.core.delivery import Delivery
from hookd.core.event_actions import PING_REFUSAL
from hookd.core.facts import RefUpdate
from hookd.core.forge_profiles import profile
from hookd.core.render import RenderError, evaluate, render_text, template_context
from hookd.core.rules import (
    ChangedFiles,
    HookRule,
    RefTarget,
    TraceEntry,
    changed_files,
    match_hooks,
)
from hookd.core.vocabulary import DeliveryStatus
from hookd.store.records import NewJob


@dataclass(frozen=True, slots=True)
class Plan:
    trace: tuple[dict[str, Any], ...]
    jobs: tuple[NewJob, ...]


def delivery_context(
    delivery: Delivery, hook: str | None = None, changed: Sequence[str] | None = None
) -> dict[str, Any]:
    """What templates and `if:` see: the payload's keys, and `hookd` facts about the delivery
    (for a job of one ref of several, that ref's `ref`, `before` and `after`).
    `hookd.changed_files` is `changed` (the files a forge's API listed) when given, else
    the files the payload lists."""
    facts = {
        "event": delivery.event,
        "action": delivery.action,
        "delivery": delivery.delivery_id,
        "endpoint": delivery.endpoint,
        "forge": delivery.forge,
        "hook": hook,
        "repository": delivery.repository,
        "ref": delivery.ref,
        "before": delivery.before,
        "after": delivery.sha,
        "changed_files": list(payload_files(delivery) if changed is None else changed),
    }
    return template_context(delivery.payload, {"hookd": facts})


def payload_files(delivery: Delivery) -> tuple[str, ...]:
    """The changed files the payload lists (maybe not all of them)."""
    return changed_files(delivery.payload)


def files_knowledge(config: Config, delivery: Delivery) -> ChangedFiles:
    """What the paths filters know of the delivery's changed files: the payload's list when
    it is complete; else whether a job can ask the forge's API (`fetched_by`), or why not."""
    listed = delivery.facts.listed_files(delivery.event, delivery.payload)
    if listed is not None:
        return ChangedFiles(listed)
    api = FILE_APIS.get(delivery.forge)
    unlisted = "the payload does not list them"
    if api is None:
        forge = _forge_label(delivery.forge)
        return ChangedFiles(None, unknown_because=f"{unlisted} and hookd cannot ask {forge}'s API")
    endpoint = config.endpoints.get(delivery.endpoint)
    # Every forge FILE_APIS holds has a profile.
    app_auth = profile(delivery.forge).app_auth
    missing = _missing_credentials(endpoint, app_auth=app_auth, needs_url=api.default_url is None)
    if missing is not None:
        why = f"{unlisted} and endpoint {delivery.endpoint!r} has no {missing}"
        return ChangedFiles(None, unknown_because=why)
    return ChangedFiles(None, fetched_by=api.label)


def _forge_label(forge: str) -> str:
    try:
        return profile(forge).label
    except LookupError:
        return forge


def _missing_credentials(
    endpoint: EndpointSettings | None, *, app_auth: bool, needs_url: bool
) -> str | None:
    """The API setting the endpoint lacks to ask its forge for files, or None."""
    if endpoint is None:
        return "api_token"
    if endpoint.api_token is None and not (app_auth and endpoint.app_id is not None):
        return "api_token"
    if needs_url and endpoint.api_url is None:
        return "api_url"
    return None


def plan(config: Config, delivery: Delivery) -> Plan:
    """The trace for every hook of the delivery's endpoint, and a job per matched hook (per
    matched ref, for a delivery of several refs)."""
    if delivery.is_ping:
        return Plan(trace=(), jobs=())
    rules = config.rules.get(delivery.endpoint, ())
    updates = delivery.ref_updates
    if len(updates) > 1:
        return _plan_each_ref(config, delivery, rules, updates)
    context = _context_when_asked(delivery)
    files = _files_when_filtered(config, delivery, rules)
    trace = _match(delivery, rules, context, _target(delivery, delivery.ref), files)
    jobs = tuple(_job(config, entry, context) for entry in trace if entry.matched)
    return Plan(trace=tuple(_trace_json(entry) for entry in trace), jobs=jobs)


Context = Callable[[], Mapping[str, Any]]
"""A delivery's template context, built the first time an `if:` or a concurrency group
asks for it: most hooks have neither, and building it copies the payload's keys and reads
its facts and changed files."""


def _context_when_asked(delivery: Delivery) -> Context:
    return _LazyContext(delivery)


class _LazyContext:
    """A delivery's context, built on the first call (cheaper to make than a
    `functools.cache` wrapper, which cost 20 µs per delivery)."""

    __slots__ = ("_built", "_delivery")

    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery
        self._built: Mapping[str, Any] | None = None

    def __call__(self) -> Mapping[str, Any]:
        if self._built is None:
            self._built = delivery_context(self._delivery)
        return self._built


_NOT_FILTERED = ChangedFiles(())
"""What the matcher is told of the changed files when no hook filters on paths."""


def _files_when_filtered(
    config: Config, delivery: Delivery, rules: Sequence[HookRule]
) -> ChangedFiles:
    """What the paths filters know of the delivery's changed files, looked for only when one
    of the hooks has a paths filter."""
    if any(spec.paths is not None for rule in rules for spec in rule.trigger.events):
        return files_knowledge(config, delivery)
    return _NOT_FILTERED


def _target(delivery: Delivery, ref: str | None) -> RefTarget | None:
    """The ref the filters look at, when the forge's profile reads it (else None: the
    matcher reads the payload's `ref`, GitHub's shape)."""
    base_branch = delivery.facts.base_branch
    if base_branch is None:
        return None
    return RefTarget(ref=ref, base=base_branch(delivery.payload))


def _match(
    delivery: Delivery,
    rules: Sequence[HookRule],
    context: Context,
    target: RefTarget | None,
    files: ChangedFiles,
) -> tuple[TraceEntry, ...]:
    def condition(expression: str, _payload: Mapping[str, Any]) -> bool:
        return evaluate(expression, context())

    return match_hooks(
        delivery.event, delivery.action, delivery.payload, rules, condition, target, files
    )


def _plan_each_ref(
    config: Config, delivery: Delivery, rules: Sequence[HookRule], updates: Sequence[RefUpdate]
) -> Plan:
    """Each ref matched as a delivery of its own; a hook's trace entry says which matched."""
    per_ref = []
    for update in updates:
        view = replace(delivery, ref_update=update)
        context = _context_when_asked(view)
        target = _target(view, update.ref) or RefTarget(ref=update.ref)
        files = _files_when_filtered(config, view, rules)
        per_ref.append((update, context, _match(view, rules, context, target, files)))
    trace: list[dict[str, Any]] = []
    jobs: list[NewJob] = []
    for index, rule in enumerate(rules):
        entries = [(update, context, found[index]) for update, context, found in per_ref]
        hits = [(update, context, entry) for update, context, entry in entries if entry.matched]
        refs = [update.ref for update, _, _ in hits]
        if hits:  # the reason is the same for each ref matched, but for the ref
            reason = f"{hits[0][2].reason} for {', '.join(refs)}"
        else:
            reason = "; ".join(f"{update.ref}: {entry.reason}" for update, _, entry in entries)
        trace.append({"hook": rule.name, "matched": bool(hits), "reason": reason, "refs": refs})
        jobs.extend(_job(config, entry, context, update.ref) for update, context, entry in hits)
    return Plan(trace=tuple(trace), jobs=tuple(jobs))


def untraced_reason(config: Config, endpoint: str | None, event: str | None, status: str) -> str:
    """Why a delivery's trace is empty (no hook was considered), as a sentence."""
    if status == DeliveryStatus.REJECTED:
        return "the request was rejected, so no hook was considered"
    if status == DeliveryStatus.DUPLICATE:
        return "a duplicate runs no hook: the first delivery of this body did"
    if event == "ping":
        return PING_REFUSAL
    if not config.rules.get(endpoint or ""):
        return f"no hook is configured for endpoint {endpoint!r}"
    return f"no hook was configured for endpoint {endpoint!r} when this delivery came"


def _trace_json(entry: TraceEntry) -> dict[str, Any]:
    return {"hook": entry.hook, "matched": entry.matched, "reason": entry.reason}


def _job(config: Config, entry: TraceEntry, context: Context, ref: str | None = None) -> NewJob:
    hook = config.hooks[entry.hook]
    attempts = hook.retries + 1
    pending = None if entry.pending is None else json.dumps(entry.pending.to_json())
    if hook.concurrency is None:
        return NewJob(hook=entry.hook, max_attempts=attempts, ref=ref, paths_filter=pending)
    try:
        seen = context()
        group = render_text(
            hook.concurrency.group, {**seen, "hookd": {**seen["hookd"], "hook": entry.hook}}
        )
    except RenderError as exc:
        return NewJob(
            hook=entry.hook,
            max_attempts=attempts,
            status="failed",
            error=f"concurrency.group: {exc}",
            ref=ref,
        )
    return NewJob(
        hook=entry.hook,
        max_attempts=attempts,
        concurrency_group=group,
        cancel_in_progress=hook.concurrency.cancel_in_progress,
        ref=ref,
        paths_filter=pending,
    )
