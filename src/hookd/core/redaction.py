"""What every view of a stored delivery hides (`hookd show`, the API, the dashboard): the
values of secret-bearing headers, and payload fields known to carry a secret. The stored
bytes stay as they came, byte for byte, and jobs get them so; only what is shown changes.

Sans-I/O: text in, text out."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from hookd.core.forge_profiles import SECRET_PAYLOAD_FIELDS

REDACTED = "[redacted]"
# Header names that say their value authenticates someone: forges' signatures and tokens,
# and the usual credentials. A signature is no secret by itself, but it lets anyone with the
# body replay the request to another receiver sharing the secret, so it is not shown either.
SECRET_HEADER_WORDS = ("signature", "token", "secret", "authorization", "cookie", "password", "key")
# Top-level payload members that carry a secret (old Gitea and Gogs put the webhook's
# secret itself into every body they send): each forge profile names its own.
# A JSON string (possibly cut off by a truncated text) or one structural character.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[{}\[\]:,]')
_FORM = "application/x-www-form-urlencoded"


def is_secret_header(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether `name` is a header whose value must not be shown; `extra` names more (an
    endpoint's own signature header, in lower case)."""
    lowered = name.lower()
    return lowered in extra or any(word in lowered for word in SECRET_HEADER_WORDS)


def redact_headers(
    headers: Sequence[tuple[str, str]], extra: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """`headers` in order, each secret-bearing header's value replaced by `[redacted]`."""
    names = frozenset(name.lower() for name in extra)
    return [(name, REDACTED if is_secret_header(name, names) else value) for name, value in headers]


def redact_payload(payload: Any) -> Any:
    """A parsed payload with its secret members' values replaced (a shallow copy when it has
    any; `payload` itself is never changed)."""
    if not isinstance(payload, dict) or SECRET_PAYLOAD_FIELDS.isdisjoint(payload):
        return payload
    return {
        key: REDACTED if key in SECRET_PAYLOAD_FIELDS else value for key, value in payload.items()
    }


def redact_body_text(content_type: str | None, text: str) -> str:
    """A body shown as text (maybe only its start) with its secret members' values
    replaced: in the JSON itself, or in the `payload` field of a form. Everything else is
    kept character for character."""
    if (content_type or "").split(";")[0].strip().lower() != _FORM:
        return redact_json_text(text)
    pairs = parse_qsl(text, keep_blank_values=True)
    shown = [(key, redact_json_text(value) if key == "payload" else value) for key, value in pairs]
    return text if shown == pairs else urlencode(shown)


def redact_json_text(text: str) -> str:
    """JSON text (complete or cut off) with the string values of its top-level secret
    members replaced by `"[redacted]"`; the rest of the text is left exactly as it was."""
    if "secret" not in text and "\\u" not in text:
        return text  # no member can be named "secret": skip the scan
    pieces: list[str] = []
    last, depth, key, after_colon = 0, 0, None, False
    for match in _JSON_TOKEN.finditer(text):
        piece = match.group()
        if piece in "{[":
            depth += 1
        elif piece in "}]":
            depth -= 1
        elif piece == ":":
            after_colon = depth == 1 and key is not None
        elif piece == ",":
            key, after_colon = None, False
        elif depth == 1 and after_colon:
            if key in SECRET_PAYLOAD_FIELDS:
                pieces += (text[last : match.start()], json.dumps(REDACTED))
                last = match.end()
            key, after_colon = None, False
        elif depth == 1:
            key = _string(piece)
    return "".join(pieces) + text[last:] if pieces else text


def _string(piece: str) -> str | None:
    try:
        value = json.loads(piece)
    except ValueError:
        return None
    return value if isinstance(value, str) else None
