"""The redaction rules every view of a delivery shares: which headers are secret, and the
secret old Gitea/Gogs put in a payload, hidden in parsed JSON and in raw text alike."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

import pytest

from hookd.core.redaction import (
    REDACTED,
    is_secret_header,
    redact_body_text,
    redact_headers,
    redact_json_text,
    redact_payload,
)


@pytest.mark.parametrize(
    "name",
    [
        "X-Hub-Signature-256", "X-Hub-Signature", "X-Gitea-Signature", "X-Gitlab-Token",
        "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key",
        "X-My-Password", "X-Webhook-Secret", "X-Access-Token", "api-key",
    ],
)  # fmt: skip
def test_a_header_whose_name_says_secret_is_secret(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize(
    "name", ["Content-Type", "X-GitHub-Event", "X-GitHub-Delivery", "User-Agent", "Keep-Alive"]
)
def test_other_headers_are_shown(name: str) -> None:
    assert not is_secret_header(name)


def test_redacting_headers_keeps_their_order_and_takes_extra_names() -> None:
    headers = [("X-Ci-Proof", "abc"), ("X-Event", "push"), ("X-Api-Key", "k")]
    assert redact_headers(headers, ["x-CI-proof"]) == [
        ("X-Ci-Proof", REDACTED),
        ("X-Event", "push"),
        ("X-Api-Key", REDACTED),
    ]


def test_a_top_level_secret_is_redacted_and_the_payload_is_not_changed() -> None:
    payload = {"secret": "s3", "repository": {"secret": "nested stays"}}
    shown = redact_payload(payload)
    assert shown == {"secret": REDACTED, "repository": {"secret": "nested stays"}}
    assert payload["secret"] == "s3"
    assert redact_payload([{"secret": "x"}]) == [{"secret": "x"}]


@pytest.mark.parametrize(
    "text",
    [
        '{"secret":"s3cr3t","ref":"main"}',
        '{ "ref" : "main" ,\n  "secret" : "s3cr3t" }',
        '{"\\u0073ecret": "s3cr3t", "ref": "main"}',
        '{"a": {"b": ["x", "secret"]}, "secret": "s3\\"cr3t"}',
    ],
)
def test_raw_json_keeps_every_character_but_the_secrets(text: str) -> None:
    shown = redact_json_text(text)
    assert "s3cr3t" not in shown and "cr3t" not in shown
    assert json.loads(shown)["secret"] == REDACTED
    assert {k: v for k, v in json.loads(shown).items() if k != "secret"} == {
        k: v for k, v in json.loads(text).items() if k != "secret"
    }


def test_raw_json_cut_off_inside_the_secret_hides_what_there_is() -> None:
    assert redact_json_text('{"secret": "s3cr') == '{"secret": "[redacted]"'


def test_nested_or_non_member_secrets_are_left_alone() -> None:
    for text in ('{"repo": {"secret": "x"}}', '["secret", "x"]', '{"name": "secret"}'):
        assert redact_json_text(text) == text


def test_a_forms_payload_field_is_redacted() -> None:
    text = urlencode({"payload": json.dumps({"secret": "s3cr3t", "ref": "main"})})
    shown = dict(parse_qsl(redact_body_text("application/x-www-form-urlencoded", text)))
    assert json.loads(shown["payload"]) == {"secret": REDACTED, "ref": "main"}
    assert redact_body_text("application/json", '{"ref": 1}') == '{"ref": 1}'
