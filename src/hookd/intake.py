"""Intake: match a verified delivery against its endpoint's hooks and plan its jobs.
Used by the receiver and by replay, so both decide the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hookd.config import Config
from hookd.core.delivery import Delivery
from hookd.core.event_actions import PING_REFUSAL
from hookd.core.render import RenderError, evaluate, render_text, template_context
from hookd.core.rules import TraceEntry, match_hooks
from hookd.core.vocabulary import DeliveryStatus
from hookd.store.records import NewJob


@dataclass(frozen=True, slots=True)
class Plan:
    trace: tuple[dict[str, Any], ...]
    jobs: tuple[NewJob, ...]


def delivery_context(delivery: Delivery, hook: str | None = None) -> dict[str, Any]:
    """What templates and `if:` see: the payload's keys, and `hookd` facts about the delivery."""
    facts = {
        "event": delivery.event,
        "action": delivery.action,
        "delivery": delivery.delivery_id,
        "endpoint": delivery.endpoint,
        "forge": delivery.forge,
        "hook": hook,
    }
    return template_context(delivery.payload, {"hookd": facts})


def plan(config: Config, delivery: Delivery) -> Plan:
    """The trace for every hook of the delivery's endpoint, and a job per matched hook."""
    if delivery.is_ping:
        return Plan(trace=(), jobs=())
    rules = config.rules.get(delivery.endpoint, ())
    context = delivery_context(delivery)

    def condition(expression: str, _payload: Mapping[str, Any]) -> bool:
        return evaluate(expression, context)

    trace = match_hooks(delivery.event, delivery.action, delivery.payload, rules, condition)
    jobs = tuple(_job(config, entry, context) for entry in trace if entry.matched)
    return Plan(trace=tuple(_trace_json(entry) for entry in trace), jobs=jobs)


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


def _job(config: Config, entry: TraceEntry, context: Mapping[str, Any]) -> NewJob:
    hook = config.hooks[entry.hook]
    attempts = hook.retries + 1
    if hook.concurrency is None:
        return NewJob(hook=entry.hook, max_attempts=attempts)
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
        )
    return NewJob(
        hook=entry.hook,
        max_attempts=attempts,
        concurrency_group=group,
        cancel_in_progress=hook.concurrency.cancel_in_progress,
    )
