"""hookd's event names: GitHub's, with GitLab's and Gitea's mapped onto them.

Rules (`on:`) are written with GitHub Actions' event names. A GitLab `Push Hook` and
`Tag Push Hook` are both `push` (the ref tells branches from tags, as on GitHub); a
`Merge Request Hook` is `pull_request`, with `object_attributes.action` mapped onto
GitHub's action words. Gitea (and Forgejo, Gogs) sends GitHub's names for most events; its
others (`pull_request_approved`, `wiki`, ...) and its finer `X-Gitea-Event-Type` values are
mapped onto GitHub's in `GITEA_EVENTS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# GitLab's hook names: gitlabhq app/services/web_hook_service.rb and the webhook events docs.
GITLAB_EVENTS = {
    "Push Hook": "push",
    "Tag Push Hook": "push",
    "Merge Request Hook": "pull_request",
    "Issue Hook": "issues",
    "Confidential Issue Hook": "issues",
    "Note Hook": "issue_comment",
    "Confidential Note Hook": "issue_comment",
    "Pipeline Hook": "pipeline",
    "Job Hook": "job",
    "Deployment Hook": "deployment",
    "Release Hook": "release",
    "Wiki Page Hook": "gollum",
    "System Hook": "system",
}

# object_attributes.action on merge requests and issues, in GitHub's words.
GITLAB_ACTIONS = {
    "open": "opened",
    "close": "closed",
    "reopen": "reopened",
    "merge": "merged",
    "approved": "approved",
    "unapproved": "unapproved",
    "approval": "approved",
    "unapproval": "unapproved",
    "create": "created",
}


def gitlab_event(header: str) -> str:
    """hookd's name for a GitLab `X-Gitlab-Event` value."""
    known = GITLAB_EVENTS.get(header)
    if known is not None:
        return known
    name = header.removesuffix(" Hook").strip().lower()
    return name.replace(" ", "_") or "unknown"


def gitlab_action(payload: Mapping[str, Any]) -> str | None:
    """The action of a GitLab payload, in GitHub's words (`update` with new commits is
    `synchronize`, as GitHub calls a pull request's new push; otherwise `edited`)."""
    attrs = payload.get("object_attributes")
    if not isinstance(attrs, Mapping):
        return None
    action = attrs.get("action")
    if not isinstance(action, str):
        return None
    if action == "update":
        return "synchronize" if attrs.get("oldrev") else "edited"
    return GITLAB_ACTIONS.get(action, action)


# Gitea's action words where they differ from GitHub's (modules/structs/hook.go).
GITEA_ACTIONS = {
    "synchronized": "synchronize",
    "label_updated": "labeled",
    "label_cleared": "unlabeled",
}

GITEA_COMMENT = "pull_request_comment"
"""Gitea's name for both a review's comment (the body is a pull request's, with `review`)
and a pull request's conversation comment (the body is an issue comment's): which one, the
body says (`gitea_event`)."""

# X-Gitea-Event and the finer X-Gitea-Event-Type values (go-gitea/gitea modules/webhook/type.go,
# shared/design/FORGES.md §3 "Event vs event type") whose GitHub name differs, onto it.
# Names not listed are GitHub's already (push, create, issues, release, ...).
GITEA_EVENTS = {
    "pull_request_approved": "pull_request_review",
    "pull_request_rejected": "pull_request_review",
    "pull_request_review_approved": "pull_request_review",
    "pull_request_review_rejected": "pull_request_review",
    "pull_request_review_comment": "pull_request_review_comment",
    "wiki": "gollum",
    "issue_assign": "issues",
    "issue_label": "issues",
    "issue_milestone": "issues",
    "pull_request_assign": "pull_request",
    "pull_request_label": "pull_request",
    "pull_request_milestone": "pull_request",
    "pull_request_sync": "pull_request",
    "pull_request_review_request": "pull_request",
}

# hookd's events from Gitea, each with the actions Gitea sends for it, in GitHub's words.
GITEA_EVENT_ACTIONS: dict[str, frozenset[str]] = {
    "push": frozenset(),
    "create": frozenset(),
    "delete": frozenset(),
    "fork": frozenset(),
    "issues": frozenset({
        "opened", "edited", "closed", "reopened", "assigned", "unassigned", "labeled",
        "unlabeled", "milestoned", "demilestoned",
    }),
    # `reviewed`: Gitea's action on a comment or pull request that a review made.
    "issue_comment": frozenset({"created", "edited", "deleted", "reviewed"}),
    "pull_request": frozenset({
        "opened", "edited", "closed", "reopened", "assigned", "unassigned", "labeled",
        "unlabeled", "milestoned", "demilestoned", "synchronize", "review_requested",
        "review_request_removed", "reviewed",
    }),
    "pull_request_review": frozenset({"submitted"}),
    "pull_request_review_comment": frozenset({"created", "reviewed"}),
    "gollum": frozenset({"created", "edited", "deleted", "renamed"}),
    "repository": frozenset({"created", "deleted"}),
    "release": frozenset({"published", "updated", "deleted"}),
    "package": frozenset({"created", "deleted"}),
    "status": frozenset(),
    "workflow_run": frozenset({"requested", "in_progress", "completed"}),
    "workflow_job": frozenset({"queued", "waiting", "in_progress", "completed"}),
}  # fmt: skip


def gitea_event(forge_event: str, payload: Mapping[str, Any]) -> str:
    """hookd's name for a Gitea event (its X-Gitea-Event-Type, or X-Gitea-Event)."""
    if forge_event == GITEA_COMMENT:
        is_issue_comment = isinstance(payload.get("comment"), Mapping) and "issue" in payload
        return "issue_comment" if is_issue_comment else "pull_request_review_comment"
    return GITEA_EVENTS.get(forge_event, forge_event)


def gitea_action(forge_event: str, payload: Mapping[str, Any]) -> str | None:
    """A Gitea delivery's action in GitHub's words: a review is `submitted` (approved or
    changes requested, as the event says), a review's comment `created`; otherwise the
    payload's `action` field."""
    event = gitea_event(forge_event, payload)
    if event == "pull_request_review":
        return "submitted"
    if event == "pull_request_review_comment":
        return "created"
    action = payload.get("action")
    if not isinstance(action, str):
        return None
    return GITEA_ACTIONS.get(action, action)


# Every event GitHub sends in X-GitHub-Event: docs.github.com "Webhook events and payloads"
# (github/docs content/webhooks/webhook-events-and-payloads.md).
GITHUB_EVENT_NAMES = frozenset({
    "branch_protection_configuration", "branch_protection_rule", "check_run", "check_suite",
    "code_scanning_alert", "commit_comment", "create", "custom_property",
    "custom_property_values", "delete", "dependabot_alert", "deploy_key", "deployment",
    "deployment_protection_rule", "deployment_review", "deployment_status", "discussion",
    "discussion_comment", "fork", "github_app_authorization", "gollum", "installation",
    "installation_repositories", "installation_target", "issue_comment", "issue_dependencies",
    "issues", "label", "marketplace_purchase", "member", "membership", "merge_group", "meta",
    "milestone", "org_block", "organization", "package", "page_build",
    "personal_access_token_request", "ping", "project", "project_card", "project_column",
    "projects_v2", "projects_v2_item", "projects_v2_status_update", "public", "pull_request",
    "pull_request_review", "pull_request_review_comment", "pull_request_review_thread", "push",
    "registry_package", "release", "repository", "repository_advisory", "repository_dispatch",
    "repository_import", "repository_ruleset", "repository_vulnerability_alert",
    "secret_scanning_alert", "secret_scanning_alert_location", "secret_scanning_scan",
    "security_advisory", "security_and_analysis", "sponsorship", "star", "status", "sub_issues",
    "team", "team_add", "watch", "workflow_dispatch", "workflow_job", "workflow_run",
})  # fmt: skip

# X-Gitlab-Event values beyond those GITLAB_EVENTS maps (GitLab's "Webhook events" docs),
# named as `gitlab_event` names them.
GITLAB_OTHER_HOOKS = (
    "Feature Flag Hook", "Emoji Hook", "Resource Access Token Hook", "Member Hook",
    "Subgroup Hook", "Project Hook", "Milestone Hook", "Vulnerability Hook",
)  # fmt: skip

GITEA_EVENT_NAMES = frozenset(GITEA_EVENT_ACTIONS)
"""hookd's names for the events Gitea sends."""

# Gogs' events (gogs/gogs internal/database/webhook.go HookEventType), each with the actions
# it sends, in GitHub's words (its words are Gitea's: `label_updated`, `synchronized`, ...).
GOGS_EVENT_ACTIONS: dict[str, frozenset[str]] = {
    "create": frozenset(),
    "delete": frozenset(),
    "fork": frozenset(),
    "push": frozenset(),
    "issues": frozenset({
        "opened", "closed", "reopened", "edited", "assigned", "unassigned", "labeled",
        "unlabeled", "milestoned", "demilestoned",
    }),
    "issue_comment": frozenset({"created", "edited", "deleted"}),
    "pull_request": frozenset({
        "opened", "closed", "reopened", "edited", "assigned", "unassigned", "labeled",
        "unlabeled", "milestoned", "demilestoned", "synchronize",
    }),
    "release": frozenset({"published"}),
}  # fmt: skip

GOGS_EVENT_NAMES = frozenset(GOGS_EVENT_ACTIONS)
"""hookd's names for the events Gogs sends."""

GENERIC_EVENT = "webhook"
"""The event of a generic endpoint that names no event header."""

GITLAB_EVENT_NAMES = frozenset(gitlab_event(name) for name in (*GITLAB_EVENTS, *GITLAB_OTHER_HOOKS))
