"""Catch-up's records on the operating side: `GET /api/catch-up` (JSON, newest first,
`before` cursor as the other lists) and the dashboard's `/catch-up` page. Each record is
a redelivery hookd asked a forge for: which delivery, what the forge had recorded of its
failure, what the forge answered, and whether the delivery has arrived since."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from hookd.errors import StoreError
from hookd.store.base import Store
from hookd.web.api import BadRequest, error, json_response, next_link, parse_query
from hookd.web.catch_up_models import CatchUpFilters, CatchUpRequest

_LIST: TypeAdapter[list[CatchUpRequest]] = TypeAdapter(list[CatchUpRequest])


def api_endpoint(store: Store) -> Callable[[Request], Awaitable[Response]]:
    """`GET /api/catch-up`."""

    async def catch_up(request: Request) -> Response:
        try:
            filters = parse_query(CatchUpFilters, request.query_params)
            records = await store.catch_up().requests(filters.limit, filters.before)
        except BadRequest as exc:
            return error(400, str(exc))
        except StoreError as exc:
            return error(503, f"The store could not answer: {exc}")
        body = _LIST.dump_json(_LIST.validate_python(records, from_attributes=True))
        return json_response(body, headers=next_link(request, records, filters.limit))

    return catch_up


async def page_values(store: Store, params: dict[str, str]) -> dict[str, Any]:
    """The `/catch-up` page's records and its link to older ones."""
    filters = parse_query(CatchUpFilters, params)
    records = await store.catch_up().requests(filters.limit, filters.before)
    following = None
    if len(records) == filters.limit:
        following = "?" + urlencode({**params, "before": records[-1].id})
    return {"records": records, "next": following}
