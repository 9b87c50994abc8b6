"""schemathesis against a live server's /api/openapi.json: requests generated from the
document (valid and invalid ones) never get a 5xx, and every answer matches the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import weblive
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from weblive import TOKEN, accepted, push

from conftest import LiveServer

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("schemathesis")
    with weblive.serving(folder, weblive.with_token(), "--workers", "1") as server:
        for repository in ("acme/site", "acme/other"):
            accepted(server.url, "push", push(repository))
        accepted(server.url, "build", {"n": 1}, endpoint="ci")
        yield server


@pytest.fixture(scope="module")
def api_schema(live: LiveServer) -> Any:
    loaded = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json", headers=BEARER)
    loaded.config.update(base_url=live.url, headers=BEARER)
    return loaded


# schemathesis's own pytest integration (`from_fixture`) does not run under pytest 9, so
# each operation's strategy is driven with Hypothesis directly.
OPERATIONS = [
    ("GET", "/api/deliveries"),
    ("GET", "/api/deliveries/{id}"),
    ("POST", "/api/deliveries/{id}/replay"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{id}"),
    ("GET", "/api/jobs/{id}/log"),
    ("POST", "/api/jobs/{id}/cancel"),
    ("POST", "/api/jobs/{id}/retry"),
    ("GET", "/api/catch-up"),
    ("POST", "/api/reload"),
]


def test_every_operation_of_the_document_is_exercised(api_schema: Any) -> None:
    found = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert found == set(OPERATIONS)


# Invalid requests can only be made where a parameter has a shape to break: the lists' and
# the log's query parameters (a path id is any string).
CASES = [(method, path, GenerationMode.POSITIVE) for method, path in OPERATIONS] + [
    (method, path, GenerationMode.NEGATIVE)
    for method, path in OPERATIONS
    if path in ("/api/deliveries", "/api/jobs", "/api/jobs/{id}/log", "/api/catch-up")
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_the_api_matches_its_openapi_document(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate()

    check()
