"""The JSON API under `/api`, described by `/api/openapi.json`.

Lists are JSON arrays at the top level (as `--json` prints them), newest first; when a page
is full, a `Link: <...?before=ID>; rel="next"` header points at the next, older page.
Errors are `{"error": "<sentence>"}`: 400 for a malformed parameter, 404 for an unknown id,
409 for an action the record's state does not allow, 503 when the store cannot answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookd.config import Config
from hookd.config.validation_errors import validation_problems
from hookd.core.vocabulary import FINISHED_JOB_STATUSES
from hookd.errors import NotFound, StoreError
from hookd.reload import Reloader
from hookd.replay import NotReplayable, replay_delivery
from hookd.store.base import Store
from hookd.store.records import DeliveryQuery, JobQuery
from hookd.web import api_models as models
from hookd.web.api_logs import log_response
from hookd.web.api_views import delivery_detail
from hookd.web.auth import ApiGuard, Auth
from hookd.web.openapi import openapi_document

T = TypeVar("T", bound=BaseModel)
MAX_JOBS = 100  # a delivery's jobs shown with it: one per matched hook
_DELIVERIES = TypeAdapter(list[models.Delivery])
_JOBS = TypeAdapter(list[models.Job])


class BadRequest(Exception):
    """A parameter did not validate; the message is the sentence to answer with."""


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = content if isinstance(content, bytes) else orjson.dumps(content)
    return Response(body, status, headers, media_type="application/json")


def error(status: int, sentence: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": sentence}, status, headers)


def parse_query(model: type[T], params: Mapping[str, str]) -> T:
    """Query parameters as `model`, or BadRequest naming the first bad parameter."""
    try:
        return model.model_validate_strings(dict(params), strict=True)
    except ValidationError as exc:
        path, message = validation_problems(exc, wording={})[0]
        name = ".".join(str(part) for part in path) or "query"
        raise BadRequest(f"Query parameter {name!r}: {message}.") from exc


def next_link(request: Request, items: Sequence[Any], limit: int) -> dict[str, str]:
    """The `Link` header to the next (older) page, when this page is full."""
    if len(items) < limit or "after" in request.query_params:
        return {}
    params = {**request.query_params, "before": items[-1].id}
    return {"Link": f'<{request.url.path}?{urlencode(params)}>; rel="next"'}


class Api:
    """The handlers, over one store and the configuration in force (replays plan against
    it; `POST /api/reload` reloads it)."""

    def __init__(self, reloader: Reloader, store: Store) -> None:
        self.reloader, self.store = reloader, store

    @property
    def config(self) -> Config:
        return self.reloader.live.config

    async def reload(self, _request: Request) -> Response:
        """Load the config file again: 200 with the outcome (applied or unchanged), or 422
        with every problem when it stays as it was."""
        result = await self.reloader.reload("API")
        body = models.Reloaded.model_validate(result.to_json()).model_dump_json().encode()
        return json_response(body, 422 if result.outcome == "failed" else 200)

    async def deliveries(self, request: Request) -> Response:
        filters = parse_query(models.DeliveryFilters, request.query_params)
        query = DeliveryQuery(**filters.model_dump())
        records = await self.store.list_deliveries(query)
        body = _DELIVERIES.dump_json(_DELIVERIES.validate_python(records, from_attributes=True))
        return json_response(body, headers=next_link(request, records, filters.limit))

    async def delivery(self, request: Request) -> Response:
        delivery_id = request.path_params["id"]
        detail = await self.store.get_delivery(delivery_id)
        jobs = await self.store.list_jobs(JobQuery(limit=MAX_JOBS, delivery_id=delivery_id))
        return json_response(delivery_detail(self.config, detail, jobs).model_dump_json().encode())

    async def replay(self, request: Request) -> Response:
        delivery_id = request.path_params["id"]
        recorded = await replay_delivery(self.store, self.config, delivery_id, datetime.now(UTC))
        replayed = models.Replayed(
            id=recorded.id,
            replay_of=delivery_id,
            hooks=list(recorded.hooks),
            jobs=list(recorded.job_ids),
        )
        location = {"Location": f"/api/deliveries/{recorded.id}"}
        return json_response(replayed.model_dump_json().encode(), 201, location)

    async def jobs(self, request: Request) -> Response:
        filters = parse_query(models.JobFilters, request.query_params)
        query = JobQuery(
            limit=filters.limit,
            status=filters.status,
            hook=filters.hook,
            delivery_id=filters.delivery,
            before=filters.before,
        )
        records = await self.store.list_jobs(query)
        body = _JOBS.dump_json(_JOBS.validate_python(records, from_attributes=True))
        return json_response(body, headers=next_link(request, records, filters.limit))

    async def job(self, request: Request) -> Response:
        job = await self.store.get_job(request.path_params["id"])
        return json_response(models.Job.model_validate(job).model_dump_json().encode())

    async def log(self, request: Request) -> Response:
        parameters = parse_query(models.LogParameters, request.query_params)
        return await log_response(self.store, request, parameters.offset)

    async def cancel(self, request: Request) -> Response:
        job_id = request.path_params["id"]
        job = await self.store.get_job(job_id)
        if job.status in FINISHED_JOB_STATUSES:
            return error(409, f"Job {job_id} has already ended ({job.status}).")
        job = await self.store.cancel_job(job_id, datetime.now(UTC))
        return json_response(models.Job.model_validate(job).model_dump_json().encode())

    async def retry(self, request: Request) -> Response:
        job_id = request.path_params["id"]
        job = await self.store.get_job(job_id)
        if job.status not in FINISHED_JOB_STATUSES:
            return error(409, f"Job {job_id} is {job.status}; only an ended job can be retried.")
        job = await self.store.retry_job(job_id, datetime.now(UTC))
        return json_response(models.Job.model_validate(job).model_dump_json().encode())

    async def openapi(self, _request: Request) -> Response:
        return json_response(openapi_document())


def api_app(reloader: Reloader, store: Store, auth: Auth) -> Starlette:
    """The ASGI app to mount at `/api`: every route behind `ApiGuard`, errors as JSON."""
    api = Api(reloader, store)
    routes = [
        Route("/openapi.json", api.openapi),
        Route("/deliveries", api.deliveries),
        Route("/deliveries/{id}", api.delivery),
        Route("/deliveries/{id}/replay", api.replay, methods=["POST"]),
        Route("/jobs", api.jobs),
        Route("/jobs/{id}", api.job),
        Route("/jobs/{id}/log", api.log),
        Route("/jobs/{id}/cancel", api.cancel, methods=["POST"]),
        Route("/jobs/{id}/retry", api.retry, methods=["POST"]),
        Route("/reload", api.reload, methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(ApiGuard, auth=auth)],
        exception_handlers={
            HTTPException: _http_error,
            BadRequest: _bad_request,
            NotFound: _not_found,
            NotReplayable: _not_replayable,
            StoreError: _store_error,
        },
    )


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        sentence = "This URL does not take that method; Allow names the ones it takes."
        return error(405, sentence, dict(exc.headers or {}))
    if exc.status_code == 404:
        return error(404, "Not found.")
    return error(exc.status_code, exc.detail, dict(exc.headers or {}))


async def _bad_request(_request: Request, exc: Exception) -> Response:
    return error(400, str(exc))


async def _not_found(request: Request, _exc: Exception) -> Response:
    kind = "job" if request.url.path.startswith("/api/jobs/") else "delivery"
    return error(404, f"There is no {kind} {request.path_params.get('id', '')}.")


async def _not_replayable(_request: Request, exc: Exception) -> Response:
    return error(409, str(exc))


async def _store_error(_request: Request, exc: Exception) -> Response:
    return error(503, f"The store could not answer: {exc}")
