"""The actions (`on.<event>.types`) each forge's events can carry, in hookd's words.

A table maps hookd's name of every event a forge sends to the actions its deliveries can
carry: an empty set for an event without actions (`push`), None for one whose action is
the sender's own word (`repository_dispatch`'s `event_type`). `hookd check` refuses a
hook whose `on:` names an event or a type its endpoint's forge never sends.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from hookd.core.events import GITEA_EVENT_ACTIONS, GITLAB_EVENT_NAMES, GITLAB_EVENTS
from hookd.core.rules import Trigger

EventActions = Mapping[str, frozenset[str] | None]
"""hookd's event names to their actions: empty for none, None for any word at all."""


def _table(rows: Mapping[str, str | None]) -> dict[str, frozenset[str] | None]:
    return {
        event: None if words is None else frozenset(words.split()) for event, words in rows.items()
    }


# docs.github.com "Webhook events and payloads" (github/docs
# content/webhooks/webhook-events-and-payloads.md): each event's "action" values.
GITHUB_EVENT_ACTIONS = _table({
    "branch_protection_configuration": "disabled enabled",
    "branch_protection_rule": "created deleted edited",
    "check_run": "completed created requested_action rerequested",
    "check_suite": "completed requested rerequested",
    "code_scanning_alert": "appeared_in_branch closed_by_user created fixed reopened "
    "reopened_by_user updated_assignment",
    "commit_comment": "created",
    "create": "",
    "custom_property": "created deleted promote_to_enterprise updated",
    "custom_property_values": "updated",
    "delete": "",
    "dependabot_alert": "assignees_changed auto_dismissed auto_reopened created dismissed "
    "fixed reintroduced reopened",
    "deploy_key": "created deleted",
    "deployment": "created",
    "deployment_protection_rule": "requested",
    "deployment_review": "approved rejected requested",
    "deployment_status": "created",
    "discussion": "answered category_changed closed created deleted edited labeled locked "
    "pinned reopened transferred unanswered unlabeled unlocked unpinned",
    "discussion_comment": "created deleted edited",
    "fork": "",
    "github_app_authorization": "revoked",
    "gollum": "",
    "installation": "created deleted new_permissions_accepted suspend unsuspend",
    "installation_repositories": "added removed",
    "installation_target": "renamed",
    "issue_comment": "created deleted edited",
    "issue_dependencies": "blocked_by_added blocked_by_removed blocking_added blocking_removed",
    "issues": "assigned closed deleted demilestoned edited labeled locked milestoned opened "
    "pinned reopened transferred typed unassigned unlabeled unlocked unpinned untyped",
    "label": "created deleted edited",
    "marketplace_purchase": "cancelled changed pending_change pending_change_cancelled "
    "purchased",
    "member": "added edited removed",
    "membership": "added removed",
    "merge_group": "checks_requested destroyed",
    "meta": "deleted",
    "milestone": "closed created deleted edited opened",
    "org_block": "blocked unblocked",
    "organization": "deleted member_added member_invited member_removed renamed",
    "package": "published updated",
    "page_build": "",
    "personal_access_token_request": "approved cancelled created denied",
    "ping": "",
    "project": "closed created deleted edited reopened",
    "project_card": "converted created deleted edited moved",
    "project_column": "created deleted edited moved",
    "projects_v2": "closed created deleted edited reopened",
    "projects_v2_item": "archived converted created deleted edited reordered restored",
    "projects_v2_status_update": "created deleted edited",
    "public": "",
    "pull_request": "assigned auto_merge_disabled auto_merge_enabled closed "
    "converted_to_draft demilestoned dequeued edited enqueued labeled locked milestoned "
    "opened ready_for_review reopened review_request_removed review_requested synchronize "
    "unassigned unlabeled unlocked",
    "pull_request_review": "dismissed edited submitted",
    "pull_request_review_comment": "created deleted edited",
    "pull_request_review_thread": "resolved unresolved",
    "push": "",
    "registry_package": "published updated",
    "release": "created deleted edited prereleased published released unpublished",
    "repository": "archived created deleted edited privatized publicized renamed "
    "transferred unarchived",
    "repository_advisory": "published reported",
    "repository_dispatch": None,  # the action is the sender's `event_type`
    "repository_import": "",
    "repository_ruleset": "created deleted edited",
    "repository_vulnerability_alert": "create dismiss reopen resolve",
    "secret_scanning_alert": "assigned created publicly_leaked reopened resolved unassigned "
    "validated",
    "secret_scanning_alert_location": "created",
    "secret_scanning_scan": "completed",
    "security_advisory": "published updated withdrawn",
    "security_and_analysis": "",
    "sponsorship": "cancelled created edited pending_cancellation pending_tier_change "
    "tier_changed",
    "star": "created deleted",
    "status": "",
    "sub_issues": "parent_issue_added parent_issue_removed sub_issue_added sub_issue_removed",
    "team": "added_to_repository created deleted edited removed_from_repository",
    "team_add": "",
    "watch": "started",
    "workflow_dispatch": "",
    "workflow_job": "completed in_progress queued waiting",
    "workflow_run": "completed in_progress requested",
    # GitHub Enterprise Server's own: docs.github.com/enterprise-server webhook events.
    "cache_sync": "",
    "content_reference": "created",
    "enterprise": "anonymous_access_disabled anonymous_access_enabled",
    "integration_installation": "created deleted new_permissions_accepted suspend unsuspend",
    "integration_installation_repositories": "added removed",
    "user": "created deleted",
})  # fmt: skip

# GitLab's events as hookd names them (core.events.gitlab_event), with the actions
# core.events.gitlab_action makes of `object_attributes.action`; the hooks whose
# object_attributes carry none have none, and those not mapped take any word.
_GITLAB_MAPPED = _table({
    "push": "",
    "pull_request": "opened closed reopened merged approved unapproved edited synchronize",
    "issues": "opened closed reopened edited",
    "issue_comment": "created edited",
    "pipeline": "",
    "job": "",
    "deployment": "",
    "release": "",
    "gollum": "created edited delete",
    "system": None,
})  # fmt: skip
GITLAB_EVENT_ACTIONS: EventActions = {
    **dict.fromkeys(GITLAB_EVENT_NAMES - set(GITLAB_EVENTS.values())),
    **_GITLAB_MAPPED,
}

# Gitea's events (core.events.GITEA_EVENT_NAMES) and their actions, go-gitea/gitea
# modules/structs/hook.go (HookIssueAction and the others), in GitHub's words where
# core.events.gitea_action maps them (`synchronized`, `label_updated`).


__all__ = ["GITEA_EVENT_ACTIONS", "GITHUB_EVENT_ACTIONS", "GITLAB_EVENT_ACTIONS", "PING_REFUSAL"]

PING_REFUSAL = (
    "a ping runs no hook: hookd answers it itself (`pong`), to show the forge that the "
    "URL and secret work"
)

Problem = tuple[tuple[str | int, ...], str]
"""Where under `on` a name is wrong, and why."""


def name_problems(on: object, trigger: Trigger, label: str, table: EventActions) -> list[Problem]:
    """What is wrong with the events and types a hook's `on:` names, for a forge called
    `label` whose events and actions `table` lists (an empty table checks nothing but
    `ping`). `on` is the raw YAML value `trigger` was parsed from: it says where each name
    was written."""
    problems: list[Problem] = []
    for index, spec in enumerate(trigger.events):
        where: tuple[str | int, ...] = ()
        if isinstance(on, list | tuple):
            where = (index,)
        elif isinstance(on, Mapping):
            where = (spec.event,)
        if spec.event == "ping":
            problems.append((where, PING_REFUSAL))
        elif table and spec.event not in table:
            problems.append((where, _unknown_event(spec.event, label, table)))
        elif table and spec.types is not None:
            raw = on.get(spec.event) if isinstance(on, Mapping) else None
            listed = isinstance(raw, Mapping) and isinstance(raw.get("types"), list)
            problems.extend(_type_problems(spec.event, spec.types, listed, label, table))
    return problems


def _type_problems(
    event: str, types: tuple[str, ...], listed: bool, label: str, table: EventActions
) -> list[Problem]:
    """What is wrong with `types` under a known `event` (`listed`: written as a list)."""
    actions = table[event]
    if actions is None:
        return []
    if not actions:
        message = f"{label} sends {event} without an action, so no delivery would match types"
        return [((event, "types"), f"{message}; leave types out")]
    return [
        ((event, "types", number) if listed else (event, "types"),
         _unknown_action(event, name, label, actions))
        for number, name in enumerate(types)
        if name not in actions
    ]  # fmt: skip


# Names people write that no webhook sends under that name in hookd, and hookd's name:
# a GitHub Actions trigger, and GitLab's own names of events hookd calls GitHub's way.
_ACTIONS_ONLY = {"pull_request_target": "pull_request"}
_GITHUB_NAME = {
    "merge_request": "pull_request",
    "tag_push": "push",
    "issue": "issues",
    "note": "issue_comment",
    "wiki_page": "gollum",
}


def _unknown_event(event: str, label: str, table: EventActions) -> str:
    if _ACTIONS_ONLY.get(event) in table:
        return (
            f"{event!r} is a GitHub Actions trigger, not a webhook event: "
            f"{label} sends {_ACTIONS_ONLY[event]!r}"
        )
    if _GITHUB_NAME.get(event) in table:
        return f"hookd calls {label}'s {event!r} by GitHub's name: write {_GITHUB_NAME[event]!r}"
    return f"{label} sends no event {event!r}; {_closest(event, table)}"


def _unknown_action(event: str, name: str, label: str, actions: frozenset[str]) -> str:
    return f"{label} sends no {event} action {name!r}; {_closest(name, actions)}"


LISTED = 12
"""Up to this many names, a message lists them all when none is close."""


def _closest(name: str, known: Iterable[str]) -> str:
    ordered = sorted(known)
    close = difflib.get_close_matches(name, ordered, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"{found!r}" for found in close) + "?"
    if len(ordered) > LISTED:
        return f"none of the {len(ordered)} names it sends is close"
    return f"expected one of: {', '.join(ordered)}"
