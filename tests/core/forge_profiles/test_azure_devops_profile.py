"""Azure DevOps' profile: Basic authentication as the endpoint's `user:password`, the event
and the delivery id from the body, GitHub-shaped facts from its `resource`."""

from __future__ import annotations

import base64

from profile_checks import verdict

from hookd.core.delivery import Delivery, Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forge_profiles import profile
from hookd.core.forge_profiles.azure_devops import AZURE_DEVOPS, AZURE_EVENT_ACTIONS
from hookd.core.forges import begin_delivery

SECRET = b"hookd:pa:ss"
SPEC = EndpointSpec(name="az", forge="azure-devops", secrets=(b"old:one", SECRET))


def basic(credentials: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}


def test_it_is_azure_devops_profile() -> None:
    assert profile("azure-devops") is AZURE_DEVOPS
    assert AZURE_DEVOPS.secret_problem is not None
    assert AZURE_DEVOPS.secret_problem(b"no-colon") is not None
    assert AZURE_DEVOPS.secret_problem(SECRET) is None


def test_the_credentials_are_checked_against_every_secret() -> None:
    assert AZURE_DEVOPS.sign(SECRET, b"{}", SignatureScheme(), 0.0) == basic(SECRET)
    assert verdict(SPEC, basic(SECRET), b"") is True
    assert verdict(SPEC, basic(b"old:one"), b"") is True
    wrong = verdict(SPEC, basic(b"hookd:pa:sS"), b"")
    assert isinstance(wrong, Rejection) and wrong.status == 401
    bearer = verdict(SPEC, {"Authorization": "Bearer x"}, b"")
    assert isinstance(bearer, Rejection) and "not Basic" in bearer.reason


def receive(body: bytes) -> Delivery | Rejection:
    headers = Headers([("Content-Type", "application/json"), *basic(SECRET).items()])
    reception = begin_delivery(SPEC, headers, 0.0)
    assert not isinstance(reception, Rejection)
    reception.update(body)
    return reception.finish(body)


def test_the_event_the_delivery_id_and_the_facts_come_from_the_body() -> None:
    body = (
        b'{"id":"n-1","eventType":"git.pullrequest.updated","resource":{"status":"active",'
        b'"commits":[{"commitId":"c"}],"pullRequestId":4,"sourceRefName":"refs/heads/topic",'
        b'"targetRefName":"refs/heads/main","lastMergeSourceCommit":{"commitId":"abc"},'
        b'"repository":{"name":"repo","project":{"name":"proj"}}}}'
    )
    delivery = receive(body)
    assert not isinstance(delivery, Rejection)
    assert (delivery.event, delivery.action, delivery.delivery_id) == (
        "pull_request",
        "synchronize",
        "n-1",
    )
    assert delivery.repository == "proj/repo"
    assert delivery.sha == "abc"
    assert delivery.payload["pull_request"]["base"]["ref"] == "main"
    assert delivery.body == body


def test_an_update_without_commits_is_edited_and_other_events_keep_their_name() -> None:
    assert AZURE_DEVOPS.action("git.pullrequest.updated", {"resource": {}}) == "edited"
    assert AZURE_DEVOPS.event_name("build.complete", {}) == "build.complete"
    assert set(AZURE_EVENT_ACTIONS["pull_request"]) >= {"opened", "closed"}
    missing = receive(b'{"id":"n-2"}')
    assert isinstance(missing, Rejection) and missing.status == 400
