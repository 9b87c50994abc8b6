"""Validate the `hooks` section against the endpoints and load each hook once: its `on:`
parsed into a trigger and its action into typed settings. Build each endpoint's rules and
what receiving and running read of a payload from the loaded hooks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hookd.changed_files import LISTING_READS
from hookd.config.actions import (
    ACTION_PARSERS,
    ACTIONS,
    API_FORGES,
    ActionSettings,
    RunSettings,
)
from hookd.config.model import ConcurrencySettings, ConfigFile, EndpointSettings, HookSettings
from hookd.config.steps import StepsError, check_api_access, check_api_endpoints
from hookd.config.yamlsource import Path as KeyPath
from hookd.config.yamlsource import Source
from hookd.core.event_actions import name_problems
from hookd.core.forge_profiles import ACTION_READS, FACT_READS, profile
from hookd.core.forward_url import ForwardUrlError, check_forward_url
from hookd.core.payload_reads import Reads
from hookd.core.render import (
    RenderError,
    check_command,
    check_expression,
    check_template,
    command_templates,
)
from hookd.core.rules import (
    CHANGED_FILES_READS,
    HookRule,
    Trigger,
    TriggerError,
    parse_trigger,
    trigger_reads,
)
from hookd.core.template_reads import expression_reads, template_reads
from hookd.core.vocabulary import ActionKind


@dataclass(frozen=True, slots=True)
class Hook:
    """A hook as loaded: its endpoint, its parsed `on:`, its action's typed settings, and
    how its jobs run. Nothing in it is parsed again when a delivery comes or a job runs."""

    endpoint: str
    trigger: Trigger
    condition: str | None
    action: ActionSettings
    timeout: float | None = None
    retries: int = 0
    concurrency: ConcurrencySettings | None = None
    keep_background: bool = False


def hook_endpoint(config: ConfigFile, hook: HookSettings) -> str | None:
    """The endpoint a hook listens on: its own, or the only one there is."""
    if hook.endpoint is not None:
        return hook.endpoint
    if len(config.endpoints) == 1:
        return next(iter(config.endpoints))
    return None


def load_hooks(config: ConfigFile, source: Source) -> dict[str, Hook]:
    """Check every hook and load the ones that can be loaded; each problem goes to `source`
    (the config is only built when there is none)."""
    check_api_endpoints(config, source)
    hooks: dict[str, Hook] = {}
    for name, settings in config.hooks.items():
        hook = _load_hook(config, settings, ("hooks", name), source)
        if hook is not None:
            hooks[name] = hook
    return hooks


def _load_hook(
    config: ConfigFile, hook: HookSettings, where: KeyPath, source: Source
) -> Hook | None:
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
    trigger = _trigger(hook, config.endpoints.get(endpoint or ""), where, source)
    parsed = [_action(config, hook, endpoint, key, (*where, key), source) for key in actions]
    _check_templates(hook, where, source)
    _check_forward(hook, where, source)
    if endpoint is None or trigger is None or len(parsed) != 1 or parsed[0] is None:
        return None
    return Hook(
        endpoint=endpoint, trigger=trigger, condition=hook.if_, action=parsed[0],
        timeout=hook.timeout, retries=hook.retries, concurrency=hook.concurrency,
        keep_background=hook.keep_background,
    )  # fmt: skip


def _trigger(
    hook: HookSettings, endpoint: EndpointSettings | None, where: KeyPath, source: Source
) -> Trigger | None:
    """The hook's `on:` parsed, its event and type names checked against the events the
    endpoint's forge sends (when the endpoint is known)."""
    if hook.on is None:
        source.problem(where, "needs on: (an event, a list, a map of filters, or '*')")
        return None
    try:
        trigger = parse_trigger(hook.on)
    except TriggerError as exc:
        source.problem((*where, "on", *exc.path), exc.message)
        return None
    forge = profile(endpoint.forge) if endpoint is not None else None
    if forge is not None:
        for path, message in name_problems(hook.on, trigger, forge.label, forge.event_actions):
            source.problem((*where, "on", *path), message)
    return trigger


def _action(
    config: ConfigFile, hook: HookSettings, endpoint: str | None, key: ActionKind, where: KeyPath,
    source: Source,
) -> ActionSettings | None:  # fmt: skip
    """The action at `key` parsed into its settings (None, with problems, if it cannot
    be), and for API steps whether the endpoint can call that API."""
    try:
        action: ActionSettings | None = ACTION_PARSERS[key](hook)
    except StepsError as exc:
        action = None
        for path, message in exc.problems:
            source.problem((*where, *path), message)
    api = API_FORGES.get(key)
    if api is not None:
        check_api_access(api, endpoint, config.endpoints.get(endpoint or ""), where, source)
    return action


def _check_forward(hook: HookSettings, where: KeyPath, source: Source) -> None:
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


def _check_templates(hook: HookSettings, where: KeyPath, source: Source) -> None:
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


def build_rules(
    endpoints: Mapping[str, object], hooks: Mapping[str, Hook]
) -> dict[str, tuple[HookRule, ...]]:
    """Each endpoint's hooks, in the order written, as the matcher takes them."""
    rules: dict[str, list[HookRule]] = {name: [] for name in endpoints}
    for name, hook in hooks.items():
        if hook.endpoint in rules:
            rules[hook.endpoint].append(HookRule(name, hook.trigger, hook.condition))
    return {name: tuple(found) for name, found in rules.items()}


def build_reads(endpoints: Mapping[str, object], hooks: Mapping[str, Hook]) -> dict[str, Reads]:
    """What receiving a delivery on each endpoint reads of its payload: hookd's own facts
    (action, repository, ref, sha) and what each hook's `on:`, `if:` and concurrency group
    read. A large body is scanned for these alone (core.forges.read_payload)."""
    own = Reads.of((*ACTION_READS, *FACT_READS))
    reads = dict.fromkeys(endpoints, own)
    for hook in hooks.values():
        if hook.endpoint not in reads:
            continue
        found = Reads.of(trigger_reads(hook.trigger))
        if hook.condition is not None:
            found = found.union(expression_reads(hook.condition))
        if hook.concurrency is not None:
            found = found.union(template_reads(hook.concurrency.group))
        if _reads_changed_files(found):
            found = found.union(Reads.of(CHANGED_FILES_READS))
        reads[hook.endpoint] = reads[hook.endpoint].union(found)
    return reads


def build_job_reads(hooks: Mapping[str, Hook]) -> dict[str, Reads]:
    """What a job of each hook reads of its delivery's payload. A `run:` hook reads hookd's
    facts (HOOKD_REPOSITORY, HOOKD_REF, HOOKD_SHA) and what its command, `env:` and `cwd:`
    read; the command's program gets the whole body on stdin and in $HOOKD_PAYLOAD without
    a parse. Every other action reads the whole payload."""
    reads: dict[str, Reads] = {}
    for name, hook in hooks.items():
        run = hook.action
        if not isinstance(run, RunSettings):
            reads[name] = Reads.everything()
            continue
        words = command_templates(run.command, shell=run.shell)
        templates = [*words, *run.env.values(), *([run.cwd] if run.cwd else [])]
        found = Reads.of(FACT_READS)
        for template in templates:
            found = found.union(template_reads(template))
        if any(spec.paths is not None for spec in hook.trigger.events):
            found = found.union(Reads.of(LISTING_READS))
        if _reads_changed_files(found):
            found = found.union(Reads.of(CHANGED_FILES_READS))
        reads[name] = found
    return reads


def _reads_changed_files(reads: Reads) -> bool:
    """Whether a template reads `hookd.changed_files` (made from the payload's commits)."""
    facts = reads.keys.get("hookd")
    return facts is not None and (facts.whole or "changed_files" in facts.keys)
