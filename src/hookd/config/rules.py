"""Validate the `hooks` section against the endpoints, and build each endpoint's rules."""

from __future__ import annotations

from hookd.config.model import ACTIONS, ConfigFile, HookSettings
from hookd.config.steps import check_api_endpoints, check_api_steps
from hookd.config.yamlsource import Source
from hookd.core.delivery import DELIVERY_READS
from hookd.core.events import ACTION_READS
from hookd.core.forward_url import ForwardUrlError, check_forward_url
from hookd.core.payload_reads import Reads
from hookd.core.render import (
    RenderError,
    check_command,
    check_expression,
    check_template,
    command_templates,
)
from hookd.core.rules import HookRule, TriggerError, parse_trigger, trigger_reads
from hookd.core.template_reads import expression_reads, template_reads


def hook_endpoint(config: ConfigFile, hook: HookSettings) -> str | None:
    """The endpoint a hook listens on: its own, or the only one there is."""
    if hook.endpoint is not None:
        return hook.endpoint
    if len(config.endpoints) == 1:
        return next(iter(config.endpoints))
    return None


def check_hooks(config: ConfigFile, source: Source) -> None:
    check_api_endpoints(config, source)
    for name, hook in config.hooks.items():
        where = ("hooks", name)
        endpoint = hook_endpoint(config, hook)
        if endpoint is None:
            source.problem(where, "needs endpoint: (there is more than one endpoint)")
        elif endpoint not in config.endpoints:
            known = ", ".join(config.endpoints) or "none"
            source.problem((*where, "endpoint"), f"no endpoint {endpoint!r} (known: {known})")
        actions = [action for action in ACTIONS if getattr(hook, action) is not None]
        if len(actions) != 1:
            found = ", ".join(actions) or "none"
            source.problem(where, f"needs exactly one action of {', '.join(ACTIONS)}; has {found}")
        if hook.on is None:
            source.problem(where, "needs on: (an event, a list, a map of filters, or '*')")
        else:
            try:
                parse_trigger(hook.on)
            except TriggerError as exc:
                source.problem((*where, "on", *exc.path), exc.message)
        check_api_steps(hook, endpoint, config.endpoints.get(endpoint or ""), where, source)
        _check_templates(hook, where, source)
        _check_forward(hook, where, source)


def _check_forward(hook: HookSettings, where: tuple[str, ...], source: Source) -> None:
    forward = hook.forward
    if forward is None:
        return
    try:
        check_forward_url(forward.url)
        check_template(forward.url)
    except (ForwardUrlError, RenderError) as exc:
        source.problem((*where, "forward", "url"), str(exc))
    if forward.original_signature and forward.secret is not None:
        source.problem(
            (*where, "forward", "original_signature"),
            "give secret (sign anew) or original_signature: true (send the delivery's own), "
            "not both",
        )


def _check_templates(hook: HookSettings, where: tuple[str, ...], source: Source) -> None:
    checks: list[tuple[tuple[str | int, ...], str, bool]] = []
    if hook.if_ is not None:
        checks.append((("if",), hook.if_, True))
    if hook.concurrency is not None:
        checks.append((("concurrency", "group"), hook.concurrency.group, False))
    checks.extend((("env", key), value, False) for key, value in hook.env.items())
    if hook.run is not None:
        try:
            check_command(hook.run, shell=hook.shell)
        except RenderError as exc:
            source.problem((*where, "run"), str(exc))
    for path, text, is_expression in checks:
        try:
            (check_expression if is_expression else check_template)(text)
        except RenderError as exc:
            source.problem((*where, *path), str(exc))


def build_rules(config: ConfigFile) -> dict[str, tuple[HookRule, ...]]:
    """Each endpoint's hooks, in the order written, as the matcher takes them."""
    rules: dict[str, list[HookRule]] = {name: [] for name in config.endpoints}
    for name, hook in config.hooks.items():
        endpoint = hook_endpoint(config, hook)
        if endpoint in rules:
            rule = HookRule(name=name, trigger=parse_trigger(hook.on), condition=hook.if_)
            rules[endpoint].append(rule)
    return {name: tuple(found) for name, found in rules.items()}


def build_reads(config: ConfigFile) -> dict[str, Reads]:
    """What receiving a delivery on each endpoint reads of its payload: hookd's own facts
    (action, repository, ref, sha) and what each hook's `on:`, `if:` and concurrency group
    read. A large body is scanned for these alone (core.forges.read_payload)."""
    own = Reads.of((*ACTION_READS, *DELIVERY_READS))
    reads = dict.fromkeys(config.endpoints, own)
    for hook in config.hooks.values():
        endpoint = hook_endpoint(config, hook)
        if endpoint not in reads:
            continue
        found = Reads.of(trigger_reads(parse_trigger(hook.on)))
        if hook.if_ is not None:
            found = found.union(expression_reads(hook.if_))
        if hook.concurrency is not None:
            found = found.union(template_reads(hook.concurrency.group))
        reads[endpoint] = reads[endpoint].union(found)
    return reads


def build_job_reads(config: ConfigFile) -> dict[str, Reads]:
    """What a job of each hook reads of its delivery's payload. A `run:` hook reads hookd's
    facts (HOOKD_REPOSITORY, HOOKD_REF, HOOKD_SHA) and what its command, `env:` and `cwd:`
    read; the command's program gets the whole body on stdin and in $HOOKD_PAYLOAD without
    a parse. Every other action reads the whole payload."""
    reads: dict[str, Reads] = {}
    for name, hook in config.hooks.items():
        if hook.run is None:
            reads[name] = Reads.everything()
            continue
        words = command_templates(hook.run, shell=hook.shell)
        templates = [*words, *hook.env.values(), *([hook.cwd] if hook.cwd else [])]
        found = Reads.of(DELIVERY_READS)
        for template in templates:
            found = found.union(template_reads(template))
        reads[name] = found
    return reads
