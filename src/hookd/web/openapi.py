"""The OpenAPI 3.1 document for `/api`, built from the pydantic models the handlers use
(`hookd.web.api_models`): response schemas are the models' JSON Schemas, and each query
parameter is a field of the filter model that parses it."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hookd.web import api_models as models
from hookd.web.catch_up_models import CatchUpFilters, CatchUpRequest

_REF = "#/components/schemas/{model}"
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_RESPONSE_MODELS = (
    models.Delivery,
    models.DeliveryDetail,
    models.Job,
    models.Replayed,
    models.Reloaded,
    models.Error,
    CatchUpRequest,
)


def _schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel] | None, description: str, many: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if model is not None:
        schema = _schema_ref(model)
        if many:
            schema = {"type": "array", "items": schema}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    sentences = {
        400: "A query parameter is malformed.",
        401: "A token is set and the request did not carry it (Authorization: Bearer).",
        403: "Refused: a cross-site request, or a host name other than loopback without a token.",
        404: "No record has that id.",
        409: "The record's state does not allow it.",
        503: "The store cannot answer.",
    }
    return {str(status): _json(models.Error, sentences[status]) for status in statuses}


def _parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One query parameter per field of `model`, with the field's schema (never null: an
    absent parameter is how a query string says 'none')."""
    schema = model.model_json_schema()
    parameters = []
    for name, field in schema["properties"].items():
        field = dict(field)
        description = field.pop("description", None)
        field.pop("title", None)
        if field.get("default", 0) is None:
            field.pop("default")
        branches = [b for b in field.pop("anyOf", []) if b.get("type") != "null"]
        if branches:
            field.update(branches[0])
        parameter: dict[str, Any] = {"name": name, "in": "query", "schema": field}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _list(model: type[BaseModel], filters: type[BaseModel], what: str) -> dict[str, Any]:
    ok = _json(model, f"{what}, newest first: a JSON array.", many=True)
    ok["headers"] = {
        "Link": {
            "description": 'When the page is full: `<URL with before=ID>; rel="next"`.',
            "schema": {"type": "string"},
        }
    }
    return {
        "summary": f"List {what.lower()}",
        "parameters": _parameters(filters),
        "responses": {"200": ok, **_errors(400, 401, 403, 503)},
    }


def _one(model: type[BaseModel], summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [_ID],
        "responses": {"200": _json(model, summary), **_errors(401, 403, 404, 503)},
    }


def _action(summary: str, status: str, model: type[BaseModel]) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [_ID],
        "responses": {status: _json(model, summary), **_errors(401, 403, 404, 409, 503)},
    }


def _log() -> dict[str, Any]:
    text = {"schema": {"type": "string"}}
    return {
        "summary": "A job's output",
        "description": "Plain text; with `Accept: text/event-stream`, Server-Sent Events: "
        "`log` events (data: the text as a JSON string, id: the byte offset reached) "
        "until the job ends, then one `end` event with its status, exit code, error and end time.",
        "parameters": [_ID, *_parameters(models.LogParameters)],
        "responses": {
            "200": {
                "description": "The log",
                "content": {"text/plain": text, "text/event-stream": text},
            },
            **_errors(400, 401, 403, 404, 503),
        },
    }


def _reload() -> dict[str, Any]:
    return {
        "summary": "Reload the configuration",
        "description": "Load the config file and the secret files it names again, as SIGHUP "
        "does; the configuration in force changes only if the file has no problem.",
        "responses": {
            "200": _json(models.Reloaded, "Applied, or unchanged"),
            "422": _json(models.Reloaded, "The file has problems: the configuration stays"),
            **_errors(401, 403),
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document served at `/api/openapi.json`."""
    _, definitions = models_json_schema(
        [(model, "serialization") for model in _RESPONSE_MODELS], ref_template=_REF
    )
    deliveries = _list(models.Delivery, models.DeliveryFilters, "Deliveries")
    replay = _action("Replay a delivery", "201", models.Replayed)
    replay["responses"]["201"]["headers"] = {
        "Location": {"description": "The new delivery.", "schema": {"type": "string"}}
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hookd",
            "version": "1",
            "description": "Deliveries hookd received and the jobs they ran. With "
            "server.token set, every request needs `Authorization: Bearer <token>`.",
        },
        "paths": {
            "/api/deliveries": {"get": deliveries},
            "/api/deliveries/{id}": {"get": _one(models.DeliveryDetail, "One delivery")},
            "/api/deliveries/{id}/replay": {"post": replay},
            "/api/jobs": {"get": _list(models.Job, models.JobFilters, "Jobs")},
            "/api/jobs/{id}": {"get": _one(models.Job, "One job")},
            "/api/jobs/{id}/log": {"get": _log()},
            "/api/jobs/{id}/cancel": {"post": _action("Cancel a job", "200", models.Job)},
            "/api/jobs/{id}/retry": {"post": _action("Retry an ended job", "200", models.Job)},
            "/api/catch-up": {"get": _list(CatchUpRequest, CatchUpFilters, "Catch-up requests")},
            "/api/reload": {"post": _reload()},
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
    }
