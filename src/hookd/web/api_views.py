"""How a stored delivery is shown, by the API and the dashboard alike: headers with their
secrets redacted, the payload as text and as parsed JSON, the trace and the jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from hookd.config import Config
from hookd.core.delivery import Body
from hookd.core.forges import payload_json
from hookd.store.records import DeliveryDetail, JobRecord
from hookd.web import api_models as models

REDACTED = "[redacted]"
# Header names whose values authenticate someone: forges' signatures and tokens, and the
# usual credentials. A signature is no secret by itself, but it lets anyone with the body
# replay the request to another receiver sharing the secret, so it is not shown either.
_SECRET_WORDS = ("signature", "token", "secret", "authorization", "cookie", "password", "api-key")


def is_secret_header(name: str, extra: frozenset[str] = frozenset()) -> bool:
    lowered = name.lower()
    return lowered in extra or any(word in lowered for word in _SECRET_WORDS)


def redact_headers(
    config: Config, endpoint: str | None, headers: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Headers in order, with the value of every secret-bearing header replaced."""
    extra: frozenset[str] = frozenset()
    settings = config.endpoints.get(endpoint or "")
    if settings is not None and settings.signature is not None:
        extra = frozenset({settings.signature.header.lower()})
    return [(name, REDACTED if is_secret_header(name, extra) else value) for name, value in headers]


def parsed_payload(content_type: str | None, body: Body | None) -> Any:
    """The JSON a body carries (a form's payload= field included), or None."""
    if not body:
        return None
    try:
        return orjson.loads(payload_json(content_type, body))
    except ValueError:
        return None


def delivery_detail(
    config: Config, detail: DeliveryDetail, jobs: Sequence[JobRecord]
) -> models.DeliveryDetail:
    """The API's view of one delivery and its jobs (oldest first)."""
    record = models.Delivery.model_validate(detail.record)
    body = detail.body
    return models.DeliveryDetail(
        **record.model_dump(),
        forge_event=detail.forge_event,
        content_type=detail.content_type,
        headers=redact_headers(config, detail.record.endpoint, detail.headers),
        payload=body.decode("utf-8", "replace") if body else None,
        payload_json=parsed_payload(detail.content_type, body),
        trace=[models.TraceEntry.model_validate(entry) for entry in detail.trace],
        job_details=[models.Job.model_validate(job) for job in reversed(jobs)],
    )
