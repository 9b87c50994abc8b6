"""Intake: match a verified delivery against its endpoint's hooks and plan its jobs.
Used by the receiver and by replay, so both decide the same way.

A delivery that moved several refs (a Bitbucket push's `changes[]`) is matched once per
ref, as if the forge had sent one delivery per ref (as GitHub does): a hook gets a job for
each ref it matches, the job knows its ref (`NewJob.ref`), and the trace lists them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hookd.config import Config
from hookd.core.delivery import Delivery
from hookd.core.event_actions import PING_REFUSAL
from hookd.core.facts import RefUpdate
from hookd.core.render import RenderError, evaluate, render_text, template_context
from hookd.core.rules import HookRule, RefTarget, TraceEntry, match_hooks
from hookd.core.vocabulary import DeliveryStatus
from hookd.store.records import NewJob


@dataclass(frozen=True, slots=True)
class Plan:
    trace: tuple[dict[str, Any], ...]
    jobs: tuple[NewJob, ...]


def delivery_context(delivery: Delivery, hook: str | None = None) -> dict[str, Any]:
    """What templates and `if:` see: the payload's keys, and `hookd` facts about the delivery
    (for a job of one ref of several, that ref's `ref`, `before` and `after`)."""
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
    }
    return template_context(delivery.payload, {"hookd": facts})


def plan(config: Config, delivery: Delivery) -> Plan:
    """The trace for every hook of the delivery's endpoint, and a job per matched hook (per
    matched ref, for a delivery of several refs)."""
    if delivery.is_ping:
        return Plan(trace=(), jobs=())
    rules = config.rules.get(delivery.endpoint, ())
    updates = delivery.ref_updates
    if len(updates) > 1:
        return _plan_each_ref(config, delivery, rules, updates)
    context = delivery_context(delivery)
    trace = _match(delivery, rules, context, _target(delivery, delivery.ref))
    jobs = tuple(_job(config, entry, context) for entry in trace if entry.matched)
    return Plan(trace=tuple(_trace_json(entry) for entry in trace), jobs=jobs)


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
    context: Mapping[str, Any],
    target: RefTarget | None,
) -> tuple[TraceEntry, ...]:
    def condition(expression: str, _payload: Mapping[str, Any]) -> bool:
        return evaluate(expression, context)

    return match_hooks(delivery.event, delivery.action, delivery.payload, rules, condition, target)


def _plan_each_ref(
    config: Config, delivery: Delivery, rules: Sequence[HookRule], updates: Sequence[RefUpdate]
) -> Plan:
    """Each ref matched as a delivery of its own; a hook's trace entry says which matched."""
    per_ref = []
    for update in updates:
        view = replace(delivery, ref_update=update)
        context = delivery_context(view)
        target = _target(view, update.ref) or RefTarget(ref=update.ref)
        per_ref.append((update, context, _match(view, rules, context, target)))
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


def _job(
    config: Config, entry: TraceEntry, context: Mapping[str, Any], ref: str | None = None
) -> NewJob:
    hook = config.hooks[entry.hook]
    attempts = hook.retries + 1
    if hook.concurrency is None:
        return NewJob(hook=entry.hook, max_attempts=attempts, ref=ref)
    try:
        group = render_text(
            hook.concurrency.group, {**context, "hookd": {**context["hookd"], "hook": entry.hook}}
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
    )
