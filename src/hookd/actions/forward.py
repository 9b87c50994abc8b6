"""`forward:` POST the delivery byte for byte, with its forge headers, to another URL;
optionally re-signed with another secret. 5xx and connection errors are retried.

The original delivery's signature headers go on only when the hook says
`original_signature: true`: a signature proves the delivery to anyone who holds it, so it
is sent only where the config chose to send it. The URL's scheme, host and port are the
config's own text (checked at start-up), and values in its path or query are
percent-encoded (core.forward_url)."""

from __future__ import annotations

import time

import httpx

from hookd.actions.base import ActionResult, JobContext, failure
from hookd.config.model import ForwardSettings
from hookd.core.endpoint import SignatureScheme
from hookd.core.forge_profiles import SIGNATURE_HEADERS, SignedBytes, profile
from hookd.core.forward_url import ForwardUrlError, checked_forward_url
from hookd.core.render import RenderError, render_url
from hookd.core.vocabulary import JobStatus

# Not forwarded: what belongs to the hop (httpx sets its own), and the old signatures
# unless the hook asks for them.
_HOP_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "transfer-encoding",
        "keep-alive",
        "te",
        "upgrade",
        "accept-encoding",
    }
)


async def forward(job: JobContext, settings: ForwardSettings) -> ActionResult:
    try:
        url = checked_forward_url(settings.url, render_url(settings.url, job.context))
    except (RenderError, ForwardUrlError) as exc:
        return failure(f"forward: {exc}" if isinstance(exc, ForwardUrlError) else str(exc))
    delivery = job.delivery
    dropped = _HOP_HEADERS | (frozenset() if settings.original_signature else SIGNATURE_HEADERS)
    headers = [(name, value) for name, value in delivery.headers if name.lower() not in dropped]
    if settings.secret is not None:
        forge = profile(delivery.forge)
        signs_payload = forge.signed_bytes is SignedBytes.FORM_PAYLOAD
        signed = bytes(job.payload_bytes if signs_payload else delivery.body)
        secret = settings.secret.get_secret_value().encode()
        headers.extend(forge.sign(secret, signed, SignatureScheme(), time.time()).items())
    try:
        async with httpx.AsyncClient(timeout=settings.timeout) as client:
            response = await client.post(url, content=bytes(delivery.body), headers=headers)
    except httpx.HTTPError as exc:
        await job.output(f"POST {url}: {exc.__class__.__name__}: {exc}\n".encode())
        return failure(f"could not reach {url}: {exc.__class__.__name__}", retryable=True)
    await job.output(f"POST {url} -> {response.status_code}\n".encode())
    if response.is_success:
        return ActionResult(JobStatus.SUCCEEDED, result=f"{url} answered {response.status_code}")
    error = f"{url} answered {response.status_code}"
    return ActionResult(JobStatus.FAILED, error=error, retryable=response.status_code >= 500)
