"""Azure DevOps service hooks (shared/design/FORGES.md §4 "Azure DevOps service hooks"): no
signature, but Basic authentication, whose `user:password` is the endpoint's secret,
compared in constant time before the body is read. No event header: the event is the body's
`eventType` (`git.push` → `push`, `git.pullrequest.*` → `pull_request`), the delivery id the
body's notification `id`. Its payloads name the repository, refs and commits under
`resource`; `payload_members` gives them GitHub's shape so rules and templates read them as
GitHub's.
A push's `refUpdates[]` may list several refs: a hook runs once per matching one, and the
first is the delivery's own ref."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hookd.core.delivery import Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.facts import PAYLOAD_FACTS, RefUpdate
from hookd.core.forge_profiles.base import JSON, BodyCheck, ForgeProfile, Identity, stripped
from hookd.core.signatures import token_matches
from hookd.core.vocabulary import Forge

AUTHORIZATION = "Authorization"
EVENT_MEMBER = "eventType"

# eventType onto hookd's (GitHub's) event names; others keep Azure's name (`build.complete`).
AZURE_EVENTS = {
    "git.push": "push",
    "git.pullrequest.created": "pull_request",
    "git.pullrequest.updated": "pull_request",
    "git.pullrequest.merged": "pull_request",
}

# hookd's events from Azure DevOps, each with the actions `action` gives them.
AZURE_EVENT_ACTIONS: dict[str, frozenset[str]] = {
    "push": frozenset(),
    "pull_request": frozenset({"opened", "synchronize", "edited", "closed"}),
    "build.complete": frozenset(),
}


def identify(spec: EndpointSpec, headers: Headers) -> Identity:
    return stripped(None, None, EVENT_MEMBER)


def _credentials(value: str) -> bytes | Rejection:
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        return Rejection(
            401, f"The {AUTHORIZATION} header is not Basic: expected Basic <base64 user:password>."
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        decoded = b""
    if b":" not in decoded:
        return Rejection(
            401,
            f"The {AUTHORIZATION} header is malformed: expected Basic <base64 user:password>.",
        )
    return decoded


def verify(spec: EndpointSpec, headers: Headers) -> BodyCheck | Rejection | None:
    """The credentials are checked here, from the headers: nothing of the body is signed."""
    value = headers.get(AUTHORIZATION)
    if not spec.secrets:
        if value is None and spec.insecure:
            return None
        return Rejection(401, "This endpoint has no secret configured and is not insecure.")
    if value is None:
        return Rejection(
            401,
            f"The {AUTHORIZATION} header is missing: this endpoint takes only deliveries "
            "with its Basic authentication.",
        )
    sent = _credentials(value)
    if isinstance(sent, Rejection):
        return sent
    if token_matches(spec.secrets, sent.decode("utf-8", "surrogateescape")):
        return None
    return Rejection(401, "The Basic authentication does not match this endpoint's user:password.")


def sign_headers(
    secret: bytes, signed: bytes, scheme: SignatureScheme, now: float
) -> dict[str, str]:
    return {AUTHORIZATION: "Basic " + base64.b64encode(secret).decode()}


def secret_problem(secret: bytes) -> str | None:
    if b":" in secret:
        return None
    return "an Azure DevOps secret is the Basic authentication's user:password"


def signature_header(spec: EndpointSpec) -> str:
    return AUTHORIZATION


def event_name(forge_event: str, payload: Mapping[str, Any]) -> str:
    return AZURE_EVENTS.get(forge_event, forge_event)


def _resource(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    resource = payload.get("resource")
    return resource if isinstance(resource, Mapping) else {}


def action(forge_event: str, payload: Mapping[str, Any]) -> str | None:
    """`created` is opened, `merged` closed; `updated` is closed when the pull request is
    completed or abandoned, synchronize when it lists commits, else edited."""
    resource = _resource(payload)
    if forge_event == "git.pullrequest.created":
        return "opened"
    if forge_event == "git.pullrequest.merged":
        return "closed"
    if forge_event == "git.pullrequest.updated":
        if resource.get("status") in ("completed", "abandoned"):
            return "closed"
        return "synchronize" if resource.get("commits") else "edited"
    return None


def _branch(ref: object) -> str | None:
    return ref.removeprefix("refs/heads/") if isinstance(ref, str) else None


def _repository(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    repository = resource.get("repository")
    if not isinstance(repository, Mapping) or not isinstance(repository.get("name"), str):
        return None
    project = repository.get("project")
    owner = project.get("name") if isinstance(project, Mapping) else None
    name = repository["name"]
    full_name = f"{owner}/{name}" if isinstance(owner, str) else name
    return {"full_name": full_name, "name": name}


def _commit(resource: Mapping[str, Any], key: str) -> str | None:
    commit = resource.get(key)
    found = commit.get("commitId") if isinstance(commit, Mapping) else None
    return found if isinstance(found, str) else None


def payload_members(forge_event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """GitHub's `repository.full_name` (`project/repository`), a push's `ref`, `before` and
    `after` (its first ref update), a pull request's number, base and head."""
    resource = _resource(payload)
    found: dict[str, Any] = {}
    repository = _repository(resource)
    if repository is not None:
        found["repository"] = repository
    updates = resource.get("refUpdates")
    if isinstance(updates, list) and updates and isinstance(updates[0], Mapping):
        first = updates[0]
        found.update(ref=first.get("name"), before=first.get("oldObjectId"))
        found["after"] = first.get("newObjectId")
    if forge_event.startswith("git.pullrequest."):
        head = {"ref": _branch(resource.get("sourceRefName"))}
        head["sha"] = _commit(resource, "lastMergeSourceCommit")
        found["pull_request"] = {
            "number": resource.get("pullRequestId"),
            "title": resource.get("title"),
            "state": "closed" if resource.get("status") in ("completed", "abandoned") else "open",
            "merged": resource.get("status") == "completed",
            "base": {"ref": _branch(resource.get("targetRefName"))},
            "head": head,
        }
    return found


def ref_updates(payload: Mapping[str, Any]) -> tuple[RefUpdate, ...]:
    """Each of a push's `resource.refUpdates[]` (`name`, `oldObjectId`, `newObjectId`):
    a hook runs once per matching one, as if Azure DevOps had sent one delivery per ref."""
    updates = _resource(payload).get("refUpdates")
    found = []
    for update in updates if isinstance(updates, list) else ():
        name = update.get("name") if isinstance(update, Mapping) else None
        if isinstance(name, str) and name.startswith("refs/"):
            before, after = update.get("oldObjectId"), update.get("newObjectId")
            found.append(
                RefUpdate(
                    name,
                    before if isinstance(before, str) else None,
                    after if isinstance(after, str) else None,
                )
            )
    return tuple(found)


FACTS = replace(
    PAYLOAD_FACTS,
    ref_updates=ref_updates,
    reads=(*PAYLOAD_FACTS.reads, ("resource", "refUpdates")),
)
"""GitHub's shapes (`payload_members` adds them), and every ref update of a push."""


AZURE_DEVOPS = ForgeProfile(
    forge=Forge.AZURE_DEVOPS,
    label="Azure DevOps",
    identify=identify,
    verify=verify,
    sign=sign_headers,
    signature_header=signature_header,
    event_name=event_name,
    action=action,
    action_reads=(
        (EVENT_MEMBER,),
        ("id",),
        ("resource", "status"),
        ("resource", "commits"),
        ("resource", "repository"),
        ("resource", "refUpdates"),
        ("resource", "pullRequestId"),
        ("resource", "title"),
        ("resource", "sourceRefName"),
        ("resource", "targetRefName"),
        ("resource", "lastMergeSourceCommit"),
    ),
    known_events=frozenset(AZURE_EVENT_ACTIONS),
    signature_headers=frozenset({"authorization"}),
    secret_headers=frozenset({"authorization"}),
    body_kinds=frozenset({JSON}),
    event_path=(EVENT_MEMBER,),
    delivery_path=("id",),
    payload_members=payload_members,
    facts=FACTS,
    secret_problem=secret_problem,
    new_secret=lambda key: f"hookd:{key.hex()}",
)
