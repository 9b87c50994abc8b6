"""The shapes of `GET /api/catch-up` (see `hookd.web.catch_up_views`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hookd.web.api_models import Filters

Outcome = Literal["asking", "requested", "refused", "gone", "failed"]


class CatchUpRequest(BaseModel):
    """A redelivery hookd asked a forge for."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    endpoint: str
    forge: str
    hook: str = Field(description="The hook's path in the forge's API.")
    delivery: str = Field(description="The forge's delivery id (GUID, idempotency key).")
    forge_id: str = Field(description="The forge's id of the failed attempt asked for again.")
    event: str | None
    failed_at: AwareDatetime | None = Field(description="When the forge's attempt failed.")
    failure: str | None = Field(description="What the forge recorded of the failure.")
    requested_at: datetime
    outcome: Outcome
    answer_status: int | None = Field(description="The forge's HTTP status.")
    answer: str | None = Field(description="The forge's message.")
    arrived: bool = Field(description="hookd holds the delivery now.")


class CatchUpFilters(Filters):
    pass
