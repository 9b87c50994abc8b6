"""The store's logic written once for a synchronous driver (sqlite3, on the writer's or a
reader's thread) and an asynchronous one (psycopg, on the event loop).

An operation is a generator: it yields a `Step` (a named query, its parameters, and what
it needs back) and is sent the answer. `run_sqlite` and `run_postgres` drive it on a
connection; neither knows what the operation does. Rows are read by column name: sqlite3
connections use `sqlite3.Row`, psycopg ones `dict_row`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from hookd.store.dialect import POSTGRESQL, SQLITE
from hookd.store.queries import Query

if TYPE_CHECKING:
    from hookd.store.postgres_connect import Connection

T = TypeVar("T")
Fetch = Literal["one", "all", "count", "many"]
Row = Any
"""A row read by column name (`row["status"]`): `sqlite3.Row` or psycopg's dict."""


@dataclass(frozen=True, slots=True)
class Step:
    """Run `query` with `params` (with `fetch="many"`, a sequence of them, none returned);
    answer its first row or None (`one`), its rows (`all`) or how many rows it changed
    (`count`)."""

    query: Query | str
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    fetch: Fetch = "count"


Steps = Generator[Step, Any, T]


def one(query: Query | str, **params: Any) -> Step:
    return Step(query, params, "one")


def all_rows(query: Query | str, **params: Any) -> Step:
    return Step(query, params, "all")


def count(query: Query | str, **params: Any) -> Step:
    return Step(query, params, "count")


def many(query: Query, rows: Sequence[Mapping[str, Any]]) -> Step:
    return Step(query, rows, "many")


def run_sqlite(connection: sqlite3.Connection, steps: Steps[T]) -> T:
    """Drive `steps` on a sqlite3 connection (whose row factory is `sqlite3.Row`)."""
    try:
        step = next(steps)
        while True:
            step = steps.send(_sqlite_step(connection, step))
    except StopIteration as done:
        result: T = done.value
        return result


def _sqlite_step(connection: sqlite3.Connection, step: Step) -> Any:
    if isinstance(step.query, Query):
        statement = step.query.statement(SQLITE)
    else:
        statement = SQLITE.render(step.query)
    if step.fetch == "many":
        assert isinstance(step.params, Sequence)
        connection.executemany(statement.text, [statement.args(one) for one in step.params])
        return None
    assert isinstance(step.params, Mapping)
    cursor = connection.execute(statement.text, statement.args(step.params))
    if step.fetch == "one":
        return cursor.fetchone()
    if step.fetch == "all":
        return cursor.fetchall()
    return cursor.rowcount


async def run_postgres(connection: Connection, steps: Steps[T]) -> T:
    """Drive `steps` on a psycopg connection (whose row factory is `dict_row`)."""
    try:
        step = next(steps)
        while True:
            step = steps.send(await _postgres_step(connection, step))
    except StopIteration as done:
        result: T = done.value
        return result


async def _postgres_step(connection: Connection, step: Step) -> Any:
    if isinstance(step.query, Query):
        text = step.query.sql(POSTGRESQL)
    else:
        text = POSTGRESQL.render(step.query).text
    if step.fetch == "many":
        assert isinstance(step.params, Sequence)
        async with connection.cursor() as cursor:
            await cursor.executemany(text, step.params)
        return None
    cursor = await connection.execute(text, step.params)
    if step.fetch == "one":
        return await cursor.fetchone()
    if step.fetch == "all":
        return await cursor.fetchall()
    return cursor.rowcount
