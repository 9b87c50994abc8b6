"""How a stored delivery is shown, by the API and the dashboard alike: headers and payload
with their secrets redacted (`hookd.core.redaction`'s rules), the payload as text and as
parsed JSON, the trace and the jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from hookd.config import Config
from hookd.config.model import SignatureSettings
from hookd.core import redaction
from hookd.core.delivery import Body
from hookd.core.forges import payload_json
from hookd.store.records import DeliveryDetail, JobRecord
from hookd.web import api_models as models


def redact_headers(
    config: Config, endpoint: str | None, headers: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Headers in order, with the value of every secret-bearing header replaced (the
    endpoint's own signature header included)."""
    return redaction.redact_headers(headers, signature_header(config, endpoint))


def signature_header(config: Config, endpoint: str | None) -> tuple[str, ...]:
    """The header a generic endpoint's signature comes in, when it names one."""
    settings = config.endpoints.get(endpoint or "")
    if settings is None or not isinstance(settings.signature, SignatureSettings):
        return ()
    return (settings.signature.header,)


def parsed_payload(content_type: str | None, body: Body | None) -> Any:
    """The JSON a body carries (a form's payload= field included), its secret members
    redacted, or None."""
    if not body:
        return None
    try:
        return redaction.redact_payload(orjson.loads(payload_json(content_type, body)))
    except ValueError:
        return None


def payload_text(content_type: str | None, body: Body | None) -> str | None:
    """The body as text, its secret members redacted, or None for an empty body."""
    if not body:
        return None
    return redaction.redact_body_text(content_type, body.decode("utf-8", "replace"))


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
        payload=payload_text(detail.content_type, body),
        payload_json=parsed_payload(detail.content_type, body),
        trace=[models.TraceEntry.model_validate(entry) for entry in detail.trace],
        job_details=[models.Job.model_validate(job) for job in reversed(jobs)],
    )
