"""The sans-I/O forge adapters: `begin_delivery` reads the headers, `Reception.finish`
verifies the streamed body and parses it. Facts: shared/design/FORGES.md."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from urllib.parse import quote_plus, urlencode

import pytest

from conftest import CORPUS
from hookd.core.delivery import Delivery, Headers, Rejection
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forges import begin_delivery
from hookd.core.signatures import HmacCheck, sign

# GitHub's documented test vector ("Validating webhook deliveries"); SHA-1 computed by us.
VECTOR_SECRET = b"It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SHA256 = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
VECTOR_SHA1 = "01dc10d0c83e72ed246219cdd91669667fe2ca59"

GITHUB = EndpointSpec(name="gh", forge="github", secrets=(VECTOR_SECRET,))
GITHUB_LEGACY = EndpointSpec(name="gh", forge="github", secrets=(VECTOR_SECRET,), legacy_sha1=True)
GITLAB = EndpointSpec(name="gl", forge="gitlab", secrets=(b"gitlab-token-1",))
GITEA = EndpointSpec(name="gt", forge="gitea", secrets=(b"gitea-secret",))

PUSH = b'{"ref":"refs/heads/main","after":"abc123","repository":{"full_name":"o/r"}}'
PR_OPENED = b'{"action":"opened","number":7,"pull_request":{"head":{"sha":"def"}}}'

Result = Delivery | Rejection


def receive(
    spec: EndpointSpec,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body: bytes,
    chunk_size: int | None = None,
) -> Result:
    """Run one request through the adapter as the receiver does: headers, chunks, finish."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    started = begin_delivery(spec, Headers(items), 0.0)
    if isinstance(started, Rejection):
        return started
    size = chunk_size or max(len(body), 1)
    for start in range(0, len(body), size):
        started.update(body[start : start + size])
    return started.finish(body)


def github_headers(body: bytes, secret: bytes = VECTOR_SECRET, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": f"sha256={sign(secret, body)}",
        **extra,
    }


def accepted(result: Result) -> Delivery:
    assert isinstance(result, Delivery), result
    return result


def rejected(result: Result, status: int) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.status == status, result
    return result


# GitHub's test vector


def test_github_test_vector_digests_match_the_documented_values() -> None:
    assert sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SHA256
    assert sign(VECTOR_SECRET, VECTOR_BODY, "sha1") == VECTOR_SHA1
    check = HmacCheck((VECTOR_SECRET,), "sha256", VECTOR_SHA256)
    check.update(VECTOR_BODY)
    assert check.matches()


def test_github_test_vector_passes_verification_and_fails_only_as_json() -> None:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={VECTOR_SHA256}",
    }
    rejection = rejected(receive(GITHUB, headers, VECTOR_BODY), 400)
    assert "JSON" in rejection.reason


def test_github_test_vector_with_one_changed_digit_is_rejected() -> None:
    wrong = VECTOR_SHA256[:-1] + ("0" if VECTOR_SHA256[-1] != "0" else "1")
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={wrong}",
    }
    rejection = rejected(receive(GITHUB, headers, VECTOR_BODY), 401)
    assert "X-Hub-Signature-256" in rejection.reason


def test_github_test_vector_with_the_body_changed_is_rejected() -> None:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={VECTOR_SHA256}",
    }
    rejected(receive(GITHUB, headers, VECTOR_BODY + b"\n"), 401)


def test_sha1_test_vector_is_accepted_with_legacy_sha1() -> None:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature": f"sha1={VECTOR_SHA1}",
    }
    # The signature holds, so only the body (not a JSON object) is refused.
    rejected(receive(GITHUB_LEGACY, headers, VECTOR_BODY), 400)
    body = PUSH
    headers["X-Hub-Signature"] = f"sha1={sign(VECTOR_SECRET, body, 'sha1')}"
    assert accepted(receive(GITHUB_LEGACY, headers, body)).event == "push"


def test_sha1_test_vector_is_rejected_without_legacy_sha1() -> None:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature": f"sha1={sign(VECTOR_SECRET, PUSH, 'sha1')}",
    }
    rejection = rejected(receive(GITHUB, headers, PUSH), 401)
    assert "X-Hub-Signature-256" in rejection.reason
    assert "legacy_sha1" in rejection.reason


def test_sha256_is_checked_when_both_signature_headers_are_sent() -> None:
    good_sha1 = f"sha1={sign(VECTOR_SECRET, PUSH, 'sha1')}"
    wrong_sha256 = f"sha256={sign(b'other', PUSH)}"
    headers = github_headers(PUSH, **{"X-Hub-Signature-256": wrong_sha256})
    headers["X-Hub-Signature"] = good_sha1
    rejected(receive(GITHUB_LEGACY, headers, PUSH), 401)
    headers = github_headers(PUSH, **{"X-Hub-Signature": "sha1=" + "0" * 40})
    accepted(receive(GITHUB_LEGACY, headers, PUSH))


# GitHub deliveries


def test_accepts_signed_github_delivery() -> None:
    delivery = accepted(
        receive(GITHUB, github_headers(PR_OPENED, **{"X-GitHub-Event": "pull_request"}), PR_OPENED)
    )
    assert delivery.endpoint == "gh"
    assert delivery.forge == "github"
    assert delivery.event == "pull_request"
    assert delivery.forge_event == "pull_request"
    assert delivery.action == "opened"
    assert delivery.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert delivery.content_type == "application/json"
    assert delivery.body == PR_OPENED
    assert delivery.payload == json.loads(PR_OPENED)
    assert delivery.sha == "def"


def test_accepts_json_content_type_with_charset() -> None:
    headers = github_headers(PUSH, **{"Content-Type": "application/json; charset=utf-8"})
    assert accepted(receive(GITHUB, headers, PUSH)).payload["after"] == "abc123"


def test_ping_is_a_delivery_marked_as_ping() -> None:
    body = b'{"zen":"Design for failure.","hook_id":1}'
    delivery = accepted(receive(GITHUB, github_headers(body, **{"X-GitHub-Event": "ping"}), body))
    assert delivery.is_ping


def test_delivery_without_delivery_header_has_no_delivery_id() -> None:
    headers = github_headers(PUSH)
    del headers["X-GitHub-Delivery"]
    assert accepted(receive(GITHUB, headers, PUSH)).delivery_id is None


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 64, 10_000])
def test_streaming_in_chunks_accepts_the_same_delivery(chunk_size: int) -> None:
    body = (CORPUS / "github" / "push" / "payload.json").read_bytes()
    whole = accepted(receive(GITHUB, github_headers(body), body))
    streamed = accepted(receive(GITHUB, github_headers(body), body, chunk_size=chunk_size))
    assert streamed == whole
    assert streamed.body == body


@pytest.mark.parametrize("chunk_size", [1, 5, 13])
def test_streaming_in_chunks_gives_the_same_verdict_on_the_test_vector(chunk_size: int) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={VECTOR_SHA256}",
    }
    rejected(receive(GITHUB, headers, VECTOR_BODY, chunk_size=chunk_size), 400)
    rejected(receive(GITHUB, headers, b"Hello, World?", chunk_size=chunk_size), 401)


def test_streamed_chunks_are_what_is_verified() -> None:
    """The digest runs over the chunks as they arrive, so a body whose chunks differ from
    what was signed is refused even when `finish` is handed the signed bytes."""
    started = begin_delivery(GITHUB, Headers(github_headers(PUSH).items()), 0.0)
    assert not isinstance(started, Rejection)
    started.update(PUSH[:10])
    started.update(b"tampered")
    rejected(started.finish(PUSH), 401)


# Rotation


@pytest.mark.parametrize("secret", [b"old-secret", b"new-secret"])
def test_any_one_of_several_secrets_verifies(secret: bytes) -> None:
    spec = EndpointSpec(name="gh", forge="github", secrets=(b"old-secret", b"new-secret"))
    accepted(receive(spec, github_headers(PUSH, secret=secret), PUSH, chunk_size=9))


def test_a_secret_not_in_the_rotation_is_rejected() -> None:
    spec = EndpointSpec(name="gh", forge="github", secrets=(b"old-secret", b"new-secret"))
    rejected(receive(spec, github_headers(PUSH, secret=b"older-secret"), PUSH), 401)


@pytest.mark.parametrize("token", ["gitlab-token-1", "gitlab-token-2"])
def test_any_one_of_several_gitlab_tokens_verifies(token: str) -> None:
    spec = EndpointSpec(name="gl", forge="gitlab", secrets=(b"gitlab-token-1", b"gitlab-token-2"))
    accepted(receive(spec, gitlab_headers(token=token), PUSH))


# Failing closed, both ways


def test_rejects_missing_signature() -> None:
    headers = github_headers(PUSH)
    del headers["X-Hub-Signature-256"]
    rejection = rejected(receive(GITHUB, headers, PUSH), 401)
    assert "X-Hub-Signature-256" in rejection.reason


def test_rejects_signature_when_no_secret_is_configured() -> None:
    spec = EndpointSpec(name="gh", forge="github", insecure=True)
    rejection = rejected(receive(spec, github_headers(PUSH), PUSH), 401)
    assert "no secret" in rejection.reason


def test_rejects_unsigned_delivery_to_an_endpoint_with_neither_secret_nor_insecure() -> None:
    spec = EndpointSpec(name="gh", forge="github")
    headers = github_headers(PUSH)
    del headers["X-Hub-Signature-256"]
    rejected(receive(spec, headers, PUSH), 401)


def test_insecure_endpoint_accepts_unsigned_delivery() -> None:
    spec = EndpointSpec(name="gh", forge="github", insecure=True)
    headers = github_headers(PUSH)
    del headers["X-Hub-Signature-256"]
    assert accepted(receive(spec, headers, PUSH)).event == "push"


def test_gitlab_token_sent_to_an_endpoint_without_secret_is_rejected() -> None:
    spec = EndpointSpec(name="gl", forge="gitlab", insecure=True)
    rejected(receive(spec, gitlab_headers(token="anything"), PUSH), 401)


def test_signature_is_checked_before_the_body_is_parsed() -> None:
    body = b"{not json"
    headers = github_headers(body, secret=b"wrong")
    rejected(receive(GITHUB, headers, body), 401)


# Malformed signature headers


@pytest.mark.parametrize(
    "value",
    [
        "sha256",
        "sha256=",
        "sha256=" + "a" * 63,
        "sha256=" + "a" * 65,
        "sha256=" + "g" * 64,
        "sha1=" + "a" * 40,
        "SHA256=" + "a" * 64,
        "a" * 64,
        "sha256=0x" + "a" * 62,
        "sha256=" + "a_" * 32,
        "sha256=+" + "a" * 63,
        "sha256=" + "a" * 31 + " " + "a" * 32,
        "sha256=\xa0" + "a" * 63,
        "sha256=" + "a" * 63 + "\xe9",
    ],
)
def test_rejects_malformed_signature_header(value: str) -> None:
    headers = github_headers(PUSH, **{"X-Hub-Signature-256": value})
    rejection = rejected(receive(GITHUB, headers, PUSH), 401)
    assert "X-Hub-Signature-256" in rejection.reason
    assert "malformed" in rejection.reason


@pytest.mark.parametrize("value", ["sha256=" + "a" * 64, "0x" + "a" * 62, "a" * 63 + "\xe9"])
def test_rejects_malformed_gitea_signature_header(value: str) -> None:
    rejection = rejected(receive(GITEA, gitea_headers(PUSH, signature=value), PUSH), 401)
    assert "X-Gitea-Signature" in rejection.reason


# GitLab


def gitlab_headers(
    event: str = "Push Hook", token: str | None = "gitlab-token-1", **extra: str
) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-Gitlab-Event": event, **extra}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return headers


def test_accepts_gitlab_delivery_with_the_right_token() -> None:
    delivery = accepted(receive(GITLAB, gitlab_headers(), PUSH))
    assert delivery.forge == "gitlab"
    assert delivery.event == "push"
    assert delivery.forge_event == "Push Hook"
    assert delivery.body == PUSH


def test_rejects_gitlab_delivery_with_a_wrong_token() -> None:
    rejection = rejected(receive(GITLAB, gitlab_headers(token="gitlab-token-2"), PUSH), 401)
    assert "X-Gitlab-Token" in rejection.reason


def test_rejects_gitlab_delivery_whose_token_is_a_prefix_of_the_secret() -> None:
    rejected(receive(GITLAB, gitlab_headers(token="gitlab-token-"), PUSH), 401)


@pytest.mark.parametrize("token", [None, ""])
def test_rejects_gitlab_delivery_without_token(token: str | None) -> None:
    rejection = rejected(receive(GITLAB, gitlab_headers(token=token), PUSH), 401)
    assert "X-Gitlab-Token" in rejection.reason


def test_gitlab_idempotency_key_is_preferred_as_delivery_id() -> None:
    headers = gitlab_headers(**{"Idempotency-Key": "idem-1", "X-Gitlab-Event-UUID": "event-uuid-1"})
    assert accepted(receive(GITLAB, headers, PUSH)).delivery_id == "idem-1"


def test_gitlab_event_uuid_is_the_delivery_id_without_idempotency_key() -> None:
    headers = gitlab_headers(**{"X-Gitlab-Event-UUID": "event-uuid-1"})
    assert accepted(receive(GITLAB, headers, PUSH)).delivery_id == "event-uuid-1"


@pytest.mark.parametrize(
    ("header", "event"),
    [
        ("Push Hook", "push"),
        ("Tag Push Hook", "push"),
        ("Merge Request Hook", "pull_request"),
        ("Issue Hook", "issues"),
        ("Note Hook", "issue_comment"),
    ],
)
def test_gitlab_event_names_are_mapped_to_github_names(header: str, event: str) -> None:
    delivery = accepted(receive(GITLAB, gitlab_headers(event=header), PUSH))
    assert delivery.event == event
    assert delivery.forge_event == header


def test_gitlab_merge_request_hook_is_pull_request_with_mapped_action() -> None:
    body = (CORPUS / "gitlab" / "merge_request" / "go-gitlab__merge_request.json").read_bytes()
    assert json.loads(body)["object_attributes"]["action"] == "open"
    delivery = accepted(receive(GITLAB, gitlab_headers(event="Merge Request Hook"), body))
    assert delivery.event == "pull_request"
    assert delivery.action == "opened"


@pytest.mark.parametrize(
    ("attributes", "action"),
    [
        ({"action": "merge"}, "merged"),
        ({"action": "close"}, "closed"),
        ({"action": "reopen"}, "reopened"),
        ({"action": "update", "oldrev": "abc"}, "synchronize"),
        ({"action": "update"}, "edited"),
    ],
)
def test_gitlab_merge_request_actions_are_mapped(attributes: dict[str, str], action: str) -> None:
    body = json.dumps({"object_kind": "merge_request", "object_attributes": attributes}).encode()
    delivery = accepted(receive(GITLAB, gitlab_headers(event="Merge Request Hook"), body))
    assert delivery.action == action


def test_gitlab_form_body_is_refused_as_unsupported_media_type() -> None:
    body = b"payload=" + quote_plus(PUSH.decode()).encode()
    headers = gitlab_headers(**{"Content-Type": "application/x-www-form-urlencoded"})
    rejected(receive(GITLAB, headers, body), 415)


# Gitea


def gitea_headers(body: bytes, signature: str | None = None, **extra: str) -> dict[str, str]:
    digest = sign(b"gitea-secret", body) if signature is None else signature
    event = extra.get("X-Gitea-Event", "push")
    return {
        "Content-Type": "application/json",
        "X-Gitea-Event": event,
        "X-Gitea-Event-Type": event,
        "X-Gitea-Delivery": "gitea-delivery-1",
        "X-Gitea-Signature": digest,
        **extra,
    }


def test_accepts_gitea_delivery_signed_with_bare_hex() -> None:
    delivery = accepted(receive(GITEA, gitea_headers(PUSH), PUSH, chunk_size=4))
    assert delivery.forge == "gitea"
    assert delivery.event == "push"
    assert delivery.delivery_id == "gitea-delivery-1"


def test_rejects_gitea_delivery_with_a_wrong_signature() -> None:
    headers = gitea_headers(PUSH, signature=sign(b"other", PUSH))
    rejection = rejected(receive(GITEA, headers, PUSH), 401)
    assert "X-Gitea-Signature" in rejection.reason


def test_gitea_empty_signature_header_is_unsigned_and_rejected_when_a_secret_is_set() -> None:
    # Gitea sends the headers empty when the hook has no secret (services/webhook/deliver.go).
    headers = gitea_headers(PUSH, signature="", **{"X-Hub-Signature-256": "sha256="})
    rejection = rejected(receive(GITEA, headers, PUSH), 401)
    assert "X-Gitea-Signature" in rejection.reason
    assert "missing" in rejection.reason


def test_gitea_empty_signature_header_is_accepted_by_an_insecure_endpoint() -> None:
    spec = EndpointSpec(name="gt", forge="gitea", insecure=True)
    headers = gitea_headers(PUSH, signature="", **{"X-Hub-Signature-256": "sha256="})
    assert accepted(receive(spec, headers, PUSH)).event == "push"


def test_gitea_event_type_is_read_when_finer_and_the_body_tells_comments_apart() -> None:
    body = b'{"action":"reviewed","pull_request":{"number":1},"review":{"content":"ok"}}'
    headers = gitea_headers(
        body, **{"X-Gitea-Event": "issue_comment", "X-Gitea-Event-Type": "pull_request_comment"}
    )
    delivery = accepted(receive(GITEA, headers, body))
    assert delivery.forge_event == "pull_request_comment"
    assert (delivery.event, delivery.action) == ("pull_request_review_comment", "created")
    comment = b'{"action":"created","issue":{"number":1},"comment":{"body":"hi"},"is_pull":true}'
    headers = gitea_headers(
        comment, **{"X-Gitea-Event": "issue_comment", "X-Gitea-Event-Type": "pull_request_comment"}
    )
    delivery = accepted(receive(GITEA, headers, comment))
    assert (delivery.event, delivery.action) == ("issue_comment", "created")


def test_gitea_actions_are_mapped_to_github_words() -> None:
    body = b'{"action":"synchronized","number":3}'
    headers = gitea_headers(body, **{"X-Gitea-Event": "pull_request"})
    assert accepted(receive(GITEA, headers, body)).action == "synchronize"


def test_gitea_form_body_is_verified_over_the_decoded_payload_value() -> None:
    payload = '{"ref":"refs/heads/main","message":"a b&c=d+é"}'
    body = urlencode({"payload": payload}).encode()
    headers = gitea_headers(
        payload.encode(), **{"Content-Type": "application/x-www-form-urlencoded"}
    )
    delivery = accepted(receive(GITEA, headers, body, chunk_size=5))
    assert delivery.body == body
    assert delivery.payload == json.loads(payload)


def test_gitea_form_body_signed_over_the_form_bytes_is_rejected() -> None:
    payload = '{"ref":"refs/heads/main"}'
    body = urlencode({"payload": payload}).encode()
    headers = gitea_headers(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    rejected(receive(GITEA, headers, body), 401)


def test_gitea_form_body_without_payload_is_rejected_as_unsigned() -> None:
    body = b"other=1"
    headers = gitea_headers(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    # Nothing signed can be found, so nothing was verified: fail closed.
    rejected(receive(GITEA, headers, body), 401)


def test_rejects_gitea_delivery_without_event_header() -> None:
    headers = gitea_headers(PUSH)
    del headers["X-Gitea-Event"], headers["X-Gitea-Event-Type"]
    rejection = rejected(receive(GITEA, headers, PUSH), 400)
    assert "X-Gitea-Event" in rejection.reason


# GitHub form-encoded deliveries


def test_github_form_body_is_verified_over_the_raw_form_bytes() -> None:
    payload = '{"ref":"refs/heads/main","head_commit":{"message":"fix: a+b & c=d é"}}'
    body = b"payload=" + quote_plus(payload).encode()
    headers = github_headers(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    delivery = accepted(receive(GITHUB, headers, body, chunk_size=11))
    assert delivery.body == body
    assert delivery.content_type == "application/x-www-form-urlencoded"
    assert delivery.payload == json.loads(payload)


def test_github_form_body_signed_over_the_decoded_json_is_rejected() -> None:
    payload = '{"ref":"refs/heads/main"}'
    body = b"payload=" + quote_plus(payload).encode()
    headers = github_headers(
        payload.encode(), **{"Content-Type": "application/x-www-form-urlencoded"}
    )
    rejected(receive(GITHUB, headers, body), 401)


# Generic endpoints


@pytest.mark.parametrize(
    ("algorithm", "prefix"),
    [("sha1", "sha1="), ("sha256", ""), ("sha512", "sha512="), ("sha512", "v1,")],
)
def test_generic_endpoint_verifies_its_configured_header_and_algorithm(
    algorithm: str, prefix: str
) -> None:
    scheme = SignatureScheme(header="X-Signature", algorithm=algorithm, prefix=prefix)
    spec = EndpointSpec(
        name="ci",
        forge="generic",
        secrets=(b"generic-secret",),
        signature=scheme,
        event_header="X-Event",
        delivery_header="X-Request-Id",
    )
    digest = hmac.new(b"generic-secret", PUSH, getattr(hashlib, algorithm)).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Event": "build",
        "X-Request-Id": "req-1",
        "X-Signature": prefix + digest,
    }
    delivery = accepted(receive(spec, headers, PUSH, chunk_size=3))
    assert delivery.event == "build"
    assert delivery.delivery_id == "req-1"
    wrong = hmac.new(b"other", PUSH, getattr(hashlib, algorithm)).hexdigest()
    rejection = rejected(receive(spec, {**headers, "X-Signature": prefix + wrong}, PUSH), 401)
    assert "X-Signature" in rejection.reason
    # The right digest of another algorithm has the wrong length: malformed.
    other = "sha1" if algorithm != "sha1" else "sha256"
    digest_other = hmac.new(b"generic-secret", PUSH, getattr(hashlib, other)).hexdigest()
    rejected(receive(spec, {**headers, "X-Signature": prefix + digest_other}, PUSH), 401)


def test_generic_endpoint_rejects_a_signature_without_its_prefix() -> None:
    scheme = SignatureScheme(header="X-Signature", algorithm="sha256", prefix="sha256=")
    spec = EndpointSpec(name="ci", forge="generic", secrets=(b"s",), signature=scheme)
    headers = {"Content-Type": "application/json", "X-Signature": sign(b"s", PUSH)}
    rejection = rejected(receive(spec, headers, PUSH), 401)
    assert "malformed" in rejection.reason


def test_generic_endpoint_ignores_other_forges_signature_headers() -> None:
    scheme = SignatureScheme(header="X-Signature", algorithm="sha256", prefix="")
    spec = EndpointSpec(name="ci", forge="generic", secrets=(b"s",), signature=scheme)
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={sign(b's', PUSH)}",
    }
    rejection = rejected(receive(spec, headers, PUSH), 401)
    assert "X-Signature" in rejection.reason


def test_generic_endpoint_without_event_header_calls_the_event_webhook() -> None:
    spec = EndpointSpec(name="ci", forge="generic", secrets=(b"s",))
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={sign(b's', PUSH)}",
    }
    delivery = accepted(receive(spec, headers, PUSH))
    assert delivery.event == "webhook"
    assert delivery.delivery_id is None


def test_generic_endpoint_rejects_a_missing_configured_event_header() -> None:
    spec = EndpointSpec(name="ci", forge="generic", secrets=(b"s",), event_header="X-Event")
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={sign(b's', PUSH)}",
    }
    rejection = rejected(receive(spec, headers, PUSH), 400)
    assert "X-Event" in rejection.reason


# Content types, event headers and bodies


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "application/xml", "multipart/form-data; boundary=x", "text/json"],
)
def test_rejects_unsupported_content_type(content_type: str | None) -> None:
    headers = github_headers(PUSH)
    if content_type is None:
        del headers["Content-Type"]
    else:
        headers["Content-Type"] = content_type
    rejection = rejected(receive(GITHUB, headers, PUSH), 415)
    assert "application/json" in rejection.reason


@pytest.mark.parametrize(
    ("spec", "headers", "name"),
    [
        (GITHUB, {"Content-Type": "application/json"}, "X-GitHub-Event"),
        (
            GITLAB,
            {"Content-Type": "application/json", "X-Gitlab-Token": "gitlab-token-1"},
            "X-Gitlab-Event",
        ),
    ],
)
def test_rejects_missing_event_header(
    spec: EndpointSpec, headers: dict[str, str], name: str
) -> None:
    if spec.forge == "github":
        headers = {**headers, "X-Hub-Signature-256": f"sha256={sign(VECTOR_SECRET, PUSH)}"}
    rejection = rejected(receive(spec, headers, PUSH), 400)
    assert name in rejection.reason


def test_rejects_empty_event_header() -> None:
    rejected(receive(GITHUB, github_headers(PUSH, **{"X-GitHub-Event": ""}), PUSH), 400)


@pytest.mark.parametrize("body", [b"{not json", b"", b'{"a": 1', b"\xff\xfe{}"])
def test_rejects_body_that_is_not_json(body: bytes) -> None:
    rejection = rejected(receive(GITHUB, github_headers(body), body), 400)
    assert "JSON" in rejection.reason


@pytest.mark.parametrize("body", [b"[]", b'"push"', b"42", b"null", b"[{}]"])
def test_rejects_json_that_is_not_an_object(body: bytes) -> None:
    rejection = rejected(receive(GITHUB, github_headers(body), body), 400)
    assert "object" in rejection.reason


@pytest.mark.parametrize("body", [b"", b"other=1", b"payloads=%7B%7D", b"Payload=%7B%7D"])
def test_rejects_form_without_payload_field(body: bytes) -> None:
    headers = github_headers(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    rejection = rejected(receive(GITHUB, headers, body), 400)
    assert "payload=" in rejection.reason


def test_rejects_form_whose_payload_is_not_json() -> None:
    body = b"payload=not+json"
    headers = github_headers(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    rejected(receive(GITHUB, headers, body), 400)


# Headers kept with the delivery


def test_secret_headers_are_not_kept_with_the_delivery() -> None:
    headers = gitlab_headers(
        **{"Authorization": "Bearer hunter2", "X-Gitlab-Instance": "https://gl"}
    )
    delivery = accepted(receive(GITLAB, headers, PUSH))
    names = [name.lower() for name, _ in delivery.headers]
    assert "x-gitlab-token" not in names
    assert "authorization" not in names
    assert ("X-Gitlab-Instance", "https://gl") in delivery.headers
    assert ("X-Gitlab-Event", "Push Hook") in delivery.headers
    assert not any("gitlab-token-1" in value or "hunter2" in value for _, value in delivery.headers)


def test_gitea_authorization_header_is_not_kept_with_the_delivery() -> None:
    headers = gitea_headers(PUSH, **{"authorization": "Basic dXNlcjpwYXNz"})
    delivery = accepted(receive(GITEA, headers, PUSH))
    assert all(name.lower() != "authorization" for name, _ in delivery.headers)
    assert ("X-Gitea-Delivery", "gitea-delivery-1") in delivery.headers


def test_headers_are_kept_in_order_with_their_original_names() -> None:
    headers = [*github_headers(PUSH).items(), ("X-Custom", "1"), ("x-custom", "2")]
    delivery = accepted(receive(GITHUB, headers, PUSH))
    assert list(delivery.headers) == headers
