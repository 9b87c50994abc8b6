"""The typed shapes of `/api`: the query filters it reads and the records it answers.
The handlers validate through these models and the OpenAPI document is generated from
them (`hookd.web.openapi`), so the description cannot drift from what is served."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
)

from hookd.core.vocabulary import DeliveryStatus, JobStatus

ID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
MAX_LIMIT = 500

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", re.ASCII)


def _rfc3339(value: Any) -> Any:
    """A query string's moment: RFC 3339 only (pydantic alone would take Unix times too)."""
    if not isinstance(value, str):
        return value
    if not _RFC3339.fullmatch(value):
        raise ValueError(
            "expected an ISO 8601 date and time with a zone, e.g. 2025-01-31T12:00:00Z"
        )
    return datetime.fromisoformat(value.upper())


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("that moment is out of range") from exc


Moment = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_utc)]

# The states as pydantic sees them: a Literal of the enum's members, so the schema lists the
# strings where they are used (a query parameter's schema cannot follow a `$ref`) and a value
# validates to the member. The type checker sees the enum itself.
if TYPE_CHECKING:
    DeliveryStatusField = DeliveryStatus
    JobStatusField = JobStatus
else:
    DeliveryStatusField = Literal[tuple(DeliveryStatus)]
    JobStatusField = Literal[tuple(JobStatus)]


class Filters(BaseModel):
    """Query parameters; an unknown parameter is ignored, a malformed one is a 400."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="Most items in the answer.")
    before: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="Cursor: only items older than this id (the `next` link carries it).",
    )


class DeliveryFilters(Filters):
    endpoint: str | None = Field(None, description="Endpoint name, as in hookd.yaml.")
    event: str | None = Field(None, description="hookd's event name: push, pull_request, ...")
    status: DeliveryStatusField | None = Field(None, description="How the request was answered.")
    hook: str | None = Field(None, description="Only deliveries that matched this hook.")
    repository: str | None = Field(None, description="owner/name")
    since: Moment | None = Field(None, description="Received at or after (ISO 8601).")
    until: Moment | None = Field(None, description="Received before (ISO 8601).")
    after: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="Only deliveries newer than this id, newest first (for live updates): "
        "a full page means more arrived than fit, so fetch again without it.",
    )


class JobFilters(Filters):
    status: JobStatusField | None = None
    hook: str | None = None
    delivery: str | None = Field(None, description="Only this delivery's jobs (hookd id).")


class LogParameters(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    offset: int = Field(
        0,
        ge=0,
        description="Start at this byte of the log (a stream resumes from Last-Event-ID).",
    )


class Record(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class TraceEntry(Record):
    """What the rules said about one hook of the delivery's endpoint."""

    hook: str
    matched: bool
    reason: str = Field(description="`matched ...`, or the first condition that did not hold.")
    refs: list[str] | None = Field(
        None,
        exclude_if=lambda refs: refs is None,
        description="Of a delivery that moved several refs (a Bitbucket push): the refs the "
        "hook matched, each of which got a job; absent otherwise.",
    )


class Delivery(Record):
    """A request to an endpoint: a delivery, a duplicate of one, or a rejected request."""

    id: str = Field(description="hookd's id; ids sort in arrival order.")
    delivery: str | None = Field(description="The forge's delivery id.")
    endpoint: str | None
    forge: str | None
    event: str | None
    action: str | None
    repository: str | None
    received_at: datetime
    status: DeliveryStatusField
    reason: str | None = Field(description="Why it was rejected.")
    hooks: list[str] = Field(description="The hooks it matched.")
    jobs: list[str] = Field(description="Ids of its jobs.")
    size: int
    remote_addr: str | None
    replay_of: str | None
    duplicate_of: str | None
    config: str | None = Field(
        description="The short hash of the configuration (hookd.yaml and its secrets) that "
        "decided it; null for a duplicate, a rejected request, or one from before hookd "
        "recorded it."
    )


class Job(Record):
    """One run of a hook for a delivery, with every attempt it took."""

    id: str
    delivery_id: str
    hook: str
    status: JobStatusField
    attempts: int
    max_attempts: int
    exit_code: int | None
    error: str | None = Field(description="A sentence when hookd itself could not run it.")
    result: str | None
    concurrency_group: str | None
    queued_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None
    log_size: int = Field(description="Bytes of output stored.")
    cancel_requested: bool = Field(description="A cancel was asked of the running job.")
    ref: str | None = Field(
        None,
        description="The one ref the job runs for, of a delivery that moved several "
        "(a Bitbucket push); null otherwise.",
    )


class DeliveryDetail(Delivery):
    """One delivery with its headers (secrets redacted), payload, rule trace and jobs."""

    forge_event: str | None = Field(description="The event header as the forge sent it.")
    content_type: str | None
    headers: list[tuple[str, str]] = Field(
        description="[name, value] pairs as received; signatures, tokens, cookies and "
        "authorization values read `[redacted]`."
    )
    payload: str | None = Field(description="The raw body as text (UTF-8).")
    payload_json: JsonValue = Field(
        description="The JSON payload it carries, parsed (null if it has none)."
    )
    trace: list[TraceEntry]
    job_details: list[Job] = Field(description="Its jobs, oldest first.")


class Replayed(BaseModel):
    """The copy a replay recorded."""

    id: str = Field(description="The new delivery's id.")
    replay_of: str
    hooks: list[str]
    jobs: list[str]


class Reloaded(BaseModel):
    """What `POST /api/reload` did."""

    outcome: Literal["applied", "unchanged", "failed"] = Field(
        description="applied: the new configuration is in force; unchanged: the file and its "
        "secrets are as they were; failed: the configuration in force stays."
    )
    config: str = Field(description="The short hash of the configuration in force now.")
    previous: str = Field(description="The one in force before.")
    problems: list[str] = Field(description="Each problem of the file, as FILE:LINE: ...")


class Error(BaseModel):
    error: str = Field(description="What went wrong, in a sentence.")
