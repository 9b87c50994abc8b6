"""`hookd send`'s samples of Forgejo, Gogs, Standard Webhooks and Azure DevOps: our own small
payloads, accepted by hookd when signed as each forge signs, each send a new delivery, and
sent by `hookd send` to a live `hookd serve`."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import CORPUS, LiveServer
from hookd.core.delivery import Delivery, Headers, Rejection
from hookd.core.endpoint import EndpointSpec
from hookd.core.forge_profiles import profile
from hookd.core.forges import begin_delivery
from hookd.samples import delivery_headers, fresh_sample, load_sample

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
SECRETS = {
    "forgejo": b"forgejo-secret",
    "gogs": b"gogs-secret",
    "standard": b"whsec_" + base64.b64encode(b"s" * 32),
    "azure-devops": b"hookd:azure-password",
}
# (forge, event, action) → (hookd's event, action, repository, sha)
SAMPLES: dict[tuple[str, str, str | None], tuple[str, str | None, str | None, str | None]] = {
    ("gogs", "push", None): ("push", None, "hookd-example/website", "after"),
    ("gogs", "pull_request", "opened"): ("pull_request", "opened", "hookd-example/website", None),
    ("forgejo", "push", None): ("push", None, "hookd-example/website", "after"),
    ("forgejo", "pull_request_approved", None): (
        "pull_request_review", "submitted", "hookd-example/website", "pull_request.head.sha",
    ),
    ("standard", "invoice.paid", None): ("invoice.paid", None, None, None),
    ("azure-devops", "git.push", None): (
        "push", None, "hookd-example/website", "resource.refUpdates.0.newObjectId",
    ),
    ("azure-devops", "git.pullrequest.created", None): (
        "pull_request", "opened", "hookd-example/website",
        "resource.lastMergeSourceCommit.commitId",
    ),
}  # fmt: skip


def _at(value: Any, path: str) -> Any:
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def receive(forge: str, event: str, body: bytes, delivery_id: str) -> Delivery:
    secret = SECRETS[forge]
    headers = delivery_headers(forge, event, delivery_id=delivery_id)
    headers.update(profile(forge).sign(secret, body, EndpointSpec("e", forge).signature, 1e9))
    spec = EndpointSpec(name=forge, forge=forge, secrets=(secret,), standard=forge == "standard")
    reception = begin_delivery(spec, Headers(headers.items()), 1e9)
    assert not isinstance(reception, Rejection), reception
    reception.update(body)
    delivery = reception.finish(body)
    assert isinstance(delivery, Delivery), delivery
    return delivery


def _strings(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {s for v in value.values() for s in _strings(v)}
    if isinstance(value, list):
        return {s for v in value for s in _strings(v)}
    return {value} if isinstance(value, str) else set()


@pytest.mark.parametrize(
    "key", sorted(SAMPLES, key=str), ids=lambda key: "-".join(filter(None, key))
)
def test_a_fresh_sample_is_accepted_with_its_facts(key: tuple[str, str, str | None]) -> None:
    forge, event, action = key
    body = fresh_sample(forge, event, action, now=NOW, nonce="n")
    payload = json.loads(body)
    delivery = receive(forge, event, body, "d-1")
    hookd_event, hookd_action, repository, sha = SAMPLES[key]
    assert (delivery.event, delivery.action, delivery.repository) == (
        hookd_event,
        hookd_action,
        repository,
    )
    if sha is not None:
        assert delivery.sha == _at(payload, sha)
    again = receive(forge, event, fresh_sample(forge, event, action, now=NOW, nonce="m"), "d-2")
    assert again.body != delivery.body
    if forge in ("standard", "azure-devops"):  # the delivery id is in the body or the signature
        assert again.delivery_id != delivery.delivery_id


@pytest.mark.parametrize(
    "key", sorted(SAMPLES, key=str), ids=lambda key: "-".join(filter(None, key))
)
def test_a_sample_copies_no_value_from_the_corpus(key: tuple[str, str, str | None]) -> None:
    forge = key[0]
    corpus_values: set[str] = set()
    for file in CORPUS.glob("*/**/*.json"):
        if file.parts[-3].startswith(forge.split("-")[0]) or forge in ("forgejo", "standard"):
            corpus_values |= _strings(json.loads(file.read_text(encoding="utf-8")))
    ours = {s for s in _strings(json.loads(load_sample(*key))) if len(s) >= 16} - {key[1]}
    assert not ours & corpus_values, sorted(ours & corpus_values)


CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
endpoints:
  gogs:
    forge: gogs
    secret: gogs-secret
  forgejo:
    forge: forgejo
    secret: forgejo-secret
  standard:
    forge: standard
    secret: whsec_c3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3M=
  azure:
    forge: azure-devops
    secret: hookd:azure-password
"""


@pytest.mark.parametrize(
    ("endpoint", "event", "expected"),
    [
        ("gogs", "push", "push"),
        ("forgejo", "pull_request_approved", "pull_request_review"),
        ("standard", "invoice.paid", "invoice.paid"),
        ("azure", "git.pullrequest.created", "pull_request"),
    ],
)
def test_hookd_send_delivers_each_new_forges_sample(
    server_factory: Any, endpoint: str, event: str, expected: str
) -> None:
    live: LiveServer = server_factory(CONFIG, "--workers", "0")
    for _ in range(2):  # each send is a new delivery, not a duplicate
        url = f"{live.url}/hooks/{endpoint}"
        ran = live.hookd("send", event, "--endpoint", endpoint, "--url", url)
        assert "-> 202" in ran.stdout, ran.stdout
        assert expected in ran.stdout
