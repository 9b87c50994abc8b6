"""hookd's own sample payloads: shaped like the forge's, written with our own values."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hookd.core.delivery import Delivery, Headers, Rejection
from hookd.core.endpoint import EndpointSpec
from hookd.core.forges import begin_delivery
from hookd.samples import (
    DEFAULT_ACTIONS,
    FORGES,
    GITHUB_HOOK_ID,
    GITHUB_REPOSITORY_ID,
    SAMPLE_TIME,
    delivery_headers,
    fresh_sample,
    load_sample,
    sample_names,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "hookd" / "samples"

# The corpus example each sample is shaped after.
REFERENCES = {
    "github-push": "github/push/payload.json",
    "github-ping": "github/ping/payload.json",
    "github-pull_request-opened": "github/pull_request/opened.payload.json",
    "github-pull_request-synchronize": "github/pull_request/synchronize.payload.json",
    "github-pull_request-closed": "github/pull_request/closed.payload.json",
    "github-issues-opened": "github/issues/opened.payload.json",
    "github-issue_comment-created": "github/issue_comment/created.payload.json",
    "github-release-published": "github/release/published.payload.json",
    "github-create": "github/create/payload.json",
    "github-delete": "github/delete/payload.json",
    "github-workflow_run-completed": "github/workflow_run/completed.payload.json",
    "github-check_suite-completed": "github/check_suite/completed.payload.json",
    "github-star-created": "github/star/created.payload.json",
    "gitlab-push": "gitlab/push/go-gitlab__push.json",
    "gitlab-tag_push": "gitlab/tag_push/go-gitlab__tag_push.json",
    "gitlab-merge_request": "gitlab/merge_request/go-gitlab__merge_request.json",
    "gitlab-note": "gitlab/note/go-gitlab__note_merge_request.json",
    "gitlab-issue": "gitlab/issue/go-gitlab__issue.json",
    "gitlab-pipeline": "gitlab/pipeline/go-gitlab__pipeline.json",
    "gitea-push": "gitea/push/go-playground__push-event.json",
    "gitea-pull_request-opened": "gitea/pull_request/go-playground__pull-request-event.json",
    "gitea-issues-opened": "gitea/issues/go-playground__issues-event.json",
    "gitea-release-published": "gitea/release/go-playground__release-event.json",
    "gitea-create": "gitea/create/go-playground__create-event.json",
    "bitbucket-push": "bitbucket/repo.push/go-playground__repo-push.json",
    "bitbucket-pull_request-opened": (
        "bitbucket/pullrequest.created/go-playground__pull-request-created.json"
    ),
    "bitbucket-server-push": (
        "bitbucket-server/repo.refs_changed/go-playground__repo-refs-changed.json"
    ),
    "bitbucket-server-pull_request-opened": (
        "bitbucket-server/pr.opened/go-playground__pr-opened.json"
    ),
}

LATER_FORGES = {"azure", "forgejo", "gogs", "standard"}

# Nested objects whose keys must match too (checked wherever the reference has one).
NESTED = (
    "repository",
    "repository.owner",
    "sender",
    "pusher",
    "commits.0",
    "commits.0.author",
    "head_commit",
    "pull_request",
    "pull_request.head",
    "pull_request.base",
    "issue",
    "comment",
    "release",
    "hook",
    "check_suite",
    "workflow_run",
    "workflow",
    "project",
    "object_attributes",
    "object_attributes.last_commit",
    "merge_request",
    "user",
    "builds.0",
)

# Where each sample's head commit sha is.
HEAD_SHAS = {
    "github-push": "after",
    "github-pull_request-opened": "pull_request.head.sha",
    "github-pull_request-synchronize": "pull_request.head.sha",
    "github-pull_request-closed": "pull_request.head.sha",
    "github-workflow_run-completed": "workflow_run.head_sha",
    "github-check_suite-completed": "check_suite.head_sha",
    "gitlab-push": "after",
    "gitlab-tag_push": "checkout_sha",
    "gitlab-merge_request": "object_attributes.last_commit.id",
    "gitlab-pipeline": "object_attributes.sha",
    "gitea-push": "after",
    "gitea-pull_request-opened": "pull_request.head.sha",
    "gitea-create": "sha",
    "bitbucket-push": "push.changes.0.new.target.hash",
    "bitbucket-pull_request-opened": "pullrequest.source.commit.hash",
    "bitbucket-server-push": "changes.0.toHash",
    "bitbucket-server-pull_request-opened": "pullRequest.fromRef.latestCommit",
}

# Objects that the reference has and our sample leaves null, on purpose.
NULL_ON_PURPOSE = {("gitlab-pipeline", "merge_request")}  # a branch pipeline has no MR

# Values any payload of the forge may carry, not taken from the corpus's examples: the
# all-zero sha of a created ref, and Go's zero time (Gitea's "never").
# Bitbucket Data Center's event key is in its body.
FORGE_CONSTANTS = {"0" * 40, "0001-01-01T00:00:00Z", "repo:refs_changed"}

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _parts(name: str) -> list[str]:
    """A sample's forge, event and action: `bitbucket-server-push` is `bitbucket-server`'s."""
    forge = max((f for f in FORGES if name.startswith(f"{f}-")), key=len)
    return [forge, *name.removeprefix(f"{forge}-").split("-")]


def _corpus(relative: str) -> Any:
    return json.loads((CORPUS / relative).read_text(encoding="utf-8"))


def _sample(name: str) -> Any:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def _at(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, list):
            value = value[int(part)] if len(value) > int(part) else None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _siblings(name: str) -> list[Path]:
    """The corpus files for the same event (and, on GitHub, the same action) as `name`."""
    reference = CORPUS / REFERENCES[name]
    files = sorted(reference.parent.glob("*.json"))
    if name.startswith("github-") and name.count("-") == 2:
        action = name.rsplit("-", 1)[1]
        files = [f for f in files if f.name.split(".")[0] == action]
    return [reference, *(f for f in files if f != reference)]


def _reference_object(name: str, path: str) -> dict[str, Any] | None:
    """The object at `path` in the reference, or in the first sibling that has one there
    (GitHub's reference push deletes a tag, so its commits list is empty)."""
    for file in _siblings(name):
        found = _at(json.loads(file.read_text(encoding="utf-8")), path)
        if isinstance(found, dict):
            return found
    return None


def _strings(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


def test_samples_are_the_documented_set() -> None:
    # The samples of forges added later are checked in tests/test_more_samples.py.
    later = {name for name in sample_names() if name.split("-")[0] in LATER_FORGES}
    assert set(sample_names()) == set(REFERENCES) | later
    assert later == {
        "azure-devops-git.push", "azure-devops-git.pullrequest.created", "forgejo-push",
        "forgejo-pull_request_approved", "gogs-push", "gogs-pull_request-opened",
        "standard-invoice.paid",
    }  # fmt: skip
    assert sample_names() == sorted(sample_names())


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_sample_is_a_pretty_printed_json_object(name: str) -> None:
    text = (SAMPLES / f"{name}.json").read_text(encoding="utf-8")
    payload = json.loads(text)
    assert isinstance(payload, dict)
    assert text == json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_sample_has_every_key_of_its_corpus_reference(name: str) -> None:
    ours = _sample(name)
    reference = _corpus(REFERENCES[name])
    assert set(reference) <= set(ours), f"missing: {sorted(set(reference) - set(ours))}"
    for path in NESTED:
        wanted = _reference_object(name, path)
        if wanted is None:
            continue
        got = _at(ours, path)
        if got is None and (_at(reference, path) is None or (name, path) in NULL_ON_PURPOSE):
            continue  # null in the reference too, e.g. a push's head_commit
        assert isinstance(got, dict), f"{path}: expected an object"
        assert set(wanted) <= set(got), f"{path} lacks {sorted(set(wanted) - set(got))}"


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_sample_invents_no_keys_the_corpus_lacks(name: str) -> None:
    ours = _sample(name)
    examples = [json.loads(f.read_text(encoding="utf-8")) for f in _siblings(name)]
    for path in ("", *NESTED):
        got = ours if not path else _at(ours, path)
        if not isinstance(got, dict):
            continue
        known: set[str] = set()
        for example in examples:
            found = example if not path else _at(example, path)
            known |= set(found) if isinstance(found, dict) else set()
        if known:
            assert set(got) <= known, f"{path or 'top level'}: {sorted(set(got) - known)}"


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_sample_copies_no_value_from_the_corpus(name: str) -> None:
    forge = _parts(name)[0].split("-")[0]
    corpus_values: set[str] = set()
    for file in CORPUS.glob(f"{forge}*/**/*.json"):
        corpus_values |= _strings(json.loads(file.read_text(encoding="utf-8")))
    # Shorter strings are the forge's own words: `Organization`, `pull_request`, `opened`.
    ours = {s for s in _strings(_sample(name)) if len(s) >= 16} - FORGE_CONSTANTS
    assert not ours & corpus_values


TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d| UTC)")


def _timestamps(value: Any, key: str = "") -> list[datetime]:
    """Every past moment in a payload; due dates (`due_on`, `due_date`) look ahead."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _timestamps(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in _timestamps(v, key)]
    if isinstance(value, str) and TIMESTAMP.fullmatch(value) and not key.startswith("due"):
        return [datetime.fromisoformat(value.replace(" UTC", "+00:00"))]
    return []


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_sample_happens_at_sample_time(name: str) -> None:
    newest = max(_timestamps(_sample(name)))
    assert SAMPLE_TIME - timedelta(minutes=2) <= newest <= SAMPLE_TIME


def test_samples_are_about_our_own_repository() -> None:
    for name in REFERENCES:
        text = (SAMPLES / f"{name}.json").read_text(encoding="utf-8")
        assert "hookd-example/website" in text, name


def test_load_sample_returns_the_file_bytes() -> None:
    assert load_sample("github", "push") == (SAMPLES / "github-push.json").read_bytes()
    closed = load_sample("github", "pull_request", "closed")
    assert closed == (SAMPLES / "github-pull_request-closed.json").read_bytes()


@pytest.mark.parametrize("event", sorted(DEFAULT_ACTIONS))
def test_load_sample_without_action_takes_the_default(event: str) -> None:
    for forge in ("github", "gitea"):
        name = f"{forge}-{event}-{DEFAULT_ACTIONS[event]}"
        if name in REFERENCES:
            assert load_sample(forge, event) == (SAMPLES / f"{name}.json").read_bytes()


@pytest.mark.parametrize(
    ("event", "action", "name"),
    [
        ("merge_request", None, "gitlab-merge_request"),
        ("merge_request", "open", "gitlab-merge_request"),
        ("pull_request", "opened", "gitlab-merge_request"),
        ("issues", "opened", "gitlab-issue"),
        ("issue_comment", None, "gitlab-note"),
        ("note", "create", "gitlab-note"),
    ],
)
def test_load_sample_takes_gitlab_kinds_and_hookd_names(
    event: str, action: str | None, name: str
) -> None:
    assert load_sample("gitlab", event, action) == (SAMPLES / f"{name}.json").read_bytes()


def test_unknown_event_lists_what_the_forge_has() -> None:
    with pytest.raises(LookupError) as caught:
        load_sample("github", "foo")
    message = str(caught.value)
    assert message.startswith("no github sample for 'foo'; try one of: ")
    assert "pull_request (opened, closed, synchronize)" in message
    assert "push" in message and "ping" in message and "star (created)" in message


def test_unknown_action_lists_what_the_forge_has() -> None:
    with pytest.raises(LookupError, match=r"'pull_request' with action 'edited'.*try one of"):
        load_sample("github", "pull_request", "edited")
    with pytest.raises(LookupError, match=r"merge_request \(open\)"):
        load_sample("gitlab", "merge_request", "closed")
    with pytest.raises(LookupError, match="'push' with action 'opened'"):
        load_sample("gitea", "push", "opened")


def test_unknown_forge_lists_the_forges() -> None:
    with pytest.raises(LookupError, match="forge 'sourcehut'; try one of: github, gitlab, gitea"):
        load_sample("sourcehut", "push")
    with pytest.raises(LookupError, match="sourcehut"):
        delivery_headers("sourcehut", "push", delivery_id="x")


@pytest.mark.parametrize("name", sorted(HEAD_SHAS))
def test_fresh_sample_gets_a_new_head_sha_per_nonce(name: str) -> None:
    forge, event, *action = _parts(name)
    first = fresh_sample(forge, event, *action, now=NOW, nonce="one")
    second = fresh_sample(forge, event, *action, now=NOW, nonce="two")
    assert first != second
    shas = {_at(json.loads(body), HEAD_SHAS[name]) for body in (first, second)}
    assert len(shas) == 2
    original = _at(_sample(name), HEAD_SHAS[name])
    for sha in shas:
        assert len(sha) == 40 and int(sha, 16) >= 0 and sha != original
        assert original not in (first + second).decode()


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_fresh_sample_is_repeatable_and_keeps_the_shape(name: str) -> None:
    forge, event, *action = _parts(name)
    body = fresh_sample(forge, event, *action, now=NOW, nonce="n")
    assert body == fresh_sample(forge, event, *action, now=NOW, nonce="n")
    fresh = json.loads(body)
    assert body.decode() == json.dumps(fresh, indent=2, ensure_ascii=False)
    assert _shape(fresh) == _shape(_sample(name))
    later = fresh_sample(forge, event, *action, now=NOW + timedelta(hours=1), nonce="n")
    assert later != body


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


def test_fresh_sample_moves_timestamps_so_the_newest_is_now() -> None:
    push = json.loads(fresh_sample("github", "push", now=NOW, nonce="n"))
    assert push["repository"]["pushed_at"] == int(NOW.timestamp())
    head = datetime.fromisoformat(push["head_commit"]["timestamp"])
    original = datetime.fromisoformat(_sample("github-push")["head_commit"]["timestamp"])
    assert head - original == NOW - SAMPLE_TIME
    comment = json.loads(fresh_sample("github", "issue_comment", now=NOW, nonce="n"))
    assert comment["comment"]["created_at"] == "2026-03-04T05:06:07Z"
    note = json.loads(fresh_sample("gitlab", "note", now=NOW, nonce="n"))
    assert note["object_attributes"]["created_at"] == "2026-03-04 05:06:07 UTC"
    gitea = json.loads(fresh_sample("gitea", "push", now=NOW, nonce="n"))
    assert gitea["repository"]["mirror_updated"] == "0001-01-01T00:00:00Z"
    assert gitea["head_commit"]["timestamp"].endswith("+02:00")
    exact = json.loads(fresh_sample("github", "star", now=NOW.replace(microsecond=5), nonce="n"))
    assert exact["starred_at"] == "2026-03-04T05:06:07Z"


def test_fresh_sample_keeps_ids_and_their_urls_together() -> None:
    payload = json.loads(fresh_sample("github", "issue_comment", "created", now=NOW, nonce="n"))
    comment = payload["comment"]
    assert comment["id"] != _sample("github-issue_comment-created")["comment"]["id"]
    assert comment["html_url"].endswith(f"#issuecomment-{comment['id']}")
    assert comment["url"].endswith(f"/issues/comments/{comment['id']}")
    push = json.loads(fresh_sample("github", "push", now=NOW, nonce="n"))
    assert push["head_commit"]["id"] == push["after"] == push["commits"][-1]["id"]
    assert push["compare"].endswith(push["after"][:12])


def test_fresh_sample_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fresh_sample("github", "push", now=datetime(2026, 1, 1), nonce="n")


def test_github_headers() -> None:
    headers = delivery_headers("github", "pull_request", delivery_id="d-1")
    assert headers["X-GitHub-Event"] == "pull_request"
    assert headers["X-GitHub-Delivery"] == "d-1"
    assert headers["User-Agent"] == "GitHub-Hookshot/hookd"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "repository"
    ping = _sample("github-ping")
    assert headers["X-GitHub-Hook-ID"] == str(GITHUB_HOOK_ID) == str(ping["hook_id"])
    target = headers["X-GitHub-Hook-Installation-Target-ID"]
    assert target == str(GITHUB_REPOSITORY_ID) == str(ping["repository"]["id"])


@pytest.mark.parametrize(
    ("event", "hook"),
    [
        ("push", "Push Hook"),
        ("tag_push", "Tag Push Hook"),
        ("merge_request", "Merge Request Hook"),
        ("note", "Note Hook"),
        ("issue", "Issue Hook"),
        ("pipeline", "Pipeline Hook"),
        ("pull_request", "Merge Request Hook"),
    ],
)
def test_gitlab_headers(event: str, hook: str) -> None:
    headers = delivery_headers("gitlab", event, delivery_id="d-2")
    assert headers["X-Gitlab-Event"] == hook
    assert headers["Idempotency-Key"] == "d-2"
    assert headers["User-Agent"] == "GitLab/17.0.0"
    assert headers["X-Gitlab-Instance"] == "https://gitlab.example.com"
    uuids = {headers["X-Gitlab-Event-UUID"], headers["X-Gitlab-Webhook-UUID"], "d-2"}
    assert len(uuids) == 3


def test_gitea_headers_carry_the_gogs_and_github_copies() -> None:
    headers = delivery_headers("gitea", "pull_request", delivery_id="d-3")
    for prefix in ("X-Gitea", "X-Gogs", "X-GitHub"):
        assert headers[f"{prefix}-Event"] == "pull_request"
        assert headers[f"{prefix}-Event-Type"] == "pull_request"
        assert headers[f"{prefix}-Delivery"] == "d-3"


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_headers_carry_no_signature(forge: str) -> None:
    headers = delivery_headers(forge, "push", delivery_id="d")
    assert not [h for h in headers if "signature" in h.lower() or "token" in h.lower()]


EXPECTED_EVENTS = {
    "github-push": ("push", None),
    "github-pull_request-synchronize": ("pull_request", "synchronize"),
    "github-star-created": ("star", "created"),
    "gitlab-push": ("push", None),
    "gitlab-tag_push": ("push", None),
    "gitlab-merge_request": ("pull_request", "opened"),
    "gitlab-note": ("issue_comment", "created"),
    "gitlab-issue": ("issues", "opened"),
    "gitlab-pipeline": ("pipeline", None),
    "gitea-pull_request-opened": ("pull_request", "opened"),
    "gitea-create": ("create", None),
    "bitbucket-push": ("push", None),
    "bitbucket-pull_request-opened": ("pull_request", "opened"),
    "bitbucket-server-push": ("push", None),
    "bitbucket-server-pull_request-opened": ("pull_request", "opened"),
}


# Bitbucket Data Center names a repository by its project's key and its slug.
REPOSITORIES = {
    "bitbucket-server-push": "HOOKD/website",
    "bitbucket-server-pull_request-opened": "HOOKD/website",
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_hookd_accepts_a_signed_sample(name: str) -> None:
    forge, event, *action = _parts(name)
    body = fresh_sample(forge, event, *action, now=NOW, nonce="n")
    delivery = _receive(forge, event, body)
    assert delivery.delivery_id == "7d6f0b9c-hookd"
    assert delivery.repository == REPOSITORIES.get(name, "hookd-example/website")
    assert delivery.body == body
    if name in EXPECTED_EVENTS:
        assert (delivery.event, delivery.action) == EXPECTED_EVENTS[name]


def _receive(forge: str, event: str, body: bytes) -> Delivery:
    secret = b"It's a Secret to Everybody"
    headers = delivery_headers(forge, event, delivery_id="7d6f0b9c-hookd")
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if forge == "github":
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    elif forge == "gitea":
        headers["X-Gitea-Signature"] = digest
    elif forge.startswith("bitbucket"):
        headers["X-Hub-Signature"] = f"sha256={digest}"
    else:
        headers["X-Gitlab-Token"] = secret.decode()
    spec = EndpointSpec(name=forge, forge=forge, secrets=(secret,))
    reception = begin_delivery(spec, Headers(headers.items()), 0.0)
    assert not isinstance(reception, Rejection), reception
    reception.update(body)
    delivery = reception.finish(body)
    assert isinstance(delivery, Delivery), delivery
    return delivery
