"""Where SQLite's SQL and PostgreSQL's differ, and nowhere else.

Every statement (`hookd.store.queries`) and migration (`hookd.store.migrations`) is written
once, with `:name` parameters and `{token}`s for the few words the two spell differently;
a `Dialect` renders it for its backend. What a driver binds or returns differently is
handled here too: SQLite keeps moments as ISO 8601 text (`iso`), PostgreSQL as timestamptz.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

from hookd.store.records import iso

_PARAMETER = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement rendered for one driver. `names`: for sqlite3, the parameter each `?N`
    stands for (bound by position: by name costs sqlite3 a microsecond a parameter, on the
    ingest path); empty for psycopg, which takes `%(name)s` from the mapping itself."""

    text: str
    names: tuple[str, ...] = ()
    _pick: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # The parameters in order, picked in C (of one name, itemgetter picks no tuple).
        pick = itemgetter(*self.names) if len(self.names) > 1 else None
        object.__setattr__(self, "_pick", pick)

    def args(self, params: Mapping[str, Any]) -> Any:
        """`params` as the driver binds them: for SQLite in order, moments as ISO text."""
        if not self.names:
            return params
        return _moments_as_text(self._values(params))

    def _values(self, params: Mapping[str, Any]) -> list[Any]:
        if self._pick is None:
            return [params[name] for name in self.names]
        return list(self._pick(params))

    def rows(self, count: int, returning: str = "") -> str:
        """An INSERT's text for `count` rows in one statement (SQLite's `?N` renumbered
        for each), with a RETURNING clause when given; bind it with `rows_args`."""
        return _rows_text(self.text, len(self.names), count, returning)

    def rows_args(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The parameters of `rows(len(rows))`, row after row."""
        values = self._values
        return _moments_as_text([value for params in rows for value in values(params)])


def _moments_as_text(values: list[Any]) -> list[Any]:
    if datetime in set(map(type, values)):
        for number, value in enumerate(values):
            if value.__class__ is datetime:
                values[number] = iso(value)
    return values


_VALUES = re.compile(r"VALUES\s*(\([^()]*\))", re.IGNORECASE)
_NUMBERED = re.compile(r"\?(\d+)")


@cache
def _rows_text(text: str, width: int, count: int, returning: str) -> str:
    values = _VALUES.search(text)
    if values is None or width == 0:
        raise ValueError(f"not a one-row INSERT with numbered parameters: {text!r}")
    row = values.group(1)
    tuples = ", ".join(_renumbered(row, n * width) for n in range(count))
    rows = f"{text[: values.start(1)]}{tuples}{text[values.end(1) :]}".rstrip()
    return f"{rows} RETURNING {returning}" if returning else rows


def _renumbered(row: str, by: int) -> str:
    return _NUMBERED.sub(lambda number: f"?{int(number.group(1)) + by}", row)


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    tokens: Mapping[str, str]
    """What each `{token}` of a statement or migration becomes."""
    positional: bool
    """Whether parameters are bound by position (`?N`, sqlite3), else by name (`%(name)s`,
    psycopg)."""

    def schema(self, template: str) -> str:
        """A migration in this dialect (no parameters)."""
        return template.format_map(self.tokens)

    def render(self, template: str) -> Statement:
        """A statement in this dialect, its `:name` parameters in the driver's style."""
        text = self.schema(template)
        if not self.positional:
            return Statement(_PARAMETER.sub(r"%(\1)s", text.replace("%", "%%")))
        names: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            return f"?{names.setdefault(match.group(1), len(names) + 1)}"

        text = _PARAMETER.sub(number, text)
        return Statement(text, tuple(names))

    def check(self, table: str, column: str, allowed: tuple[str, ...]) -> str:
        """A statement that makes `table` refuse a `column` value not in `allowed`, on an
        existing table, tested against its rows.

        SQLite adds a CHECK to an existing table only with a new column: a virtual one,
        stored nowhere (a delivery's body stays last in its row) and no row copied. Its
        test is a chain of `=`: SQLite evaluates an `IN` list by building a temporary
        table on every insert (10 us), where the chain costs a few VM steps; a trigger
        cost 30 steps and 15-30 us an insert."""
        name = f"{table}_{column}_check"
        if not self.positional:
            listed = ", ".join(f"'{value}'" for value in allowed)
            return f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} IN ({listed}));"
        chain = " OR ".join(f"{column} = '{value}'" for value in allowed)
        return (
            f"ALTER TABLE {table} ADD COLUMN {column}_checked INTEGER "
            f"GENERATED ALWAYS AS (NULL) VIRTUAL CONSTRAINT {name} CHECK ({chain});"
        )


SQLITE = Dialect(
    name="sqlite",
    positional=True,
    tokens={
        # schema
        "id": "TEXT",
        "text": "TEXT",
        "integer": "INTEGER",
        "bigint": "INTEGER",
        "moment": "TEXT",
        "json": "TEXT",
        "bytes": "BLOB",
        "boolean": "INTEGER",
        "false": "0",
        "true": "1",
        "without_rowid": " WITHOUT ROWID",
        # statements
        "greatest": "max",
        "octet_length": "length",
        "as_json": "",
        "as_bytes": "",
        "as_moment": "",
        "job_ids": "(SELECT json_group_array(j.id) FROM jobs j WHERE j.delivery_id = d.id)",
        "skip_locked": "",
        "lock_row": "",
        "take_group": "",
        "json_texts": "SELECT value FROM json_each(:keys)",
        # migration 0011: several rows may hold one body (the newest counts). Rows go by
        # age when pruned, and one whose delivery is gone counts for nothing (the lookup
        # joins them): a foreign key's check and index cost each delivery more than that.
        "body_digest_log": """CREATE TABLE body_digest_log (
    seq          INTEGER PRIMARY KEY,
    endpoint     TEXT NOT NULL,
    sha256       BLOB NOT NULL,
    delivery_id  TEXT NOT NULL,
    received_at  TEXT NOT NULL
);
INSERT INTO body_digest_log (endpoint, sha256, delivery_id, received_at)
    SELECT endpoint, sha256, delivery_id, received_at FROM body_digests ORDER BY received_at;
DROP TABLE body_digests;
ALTER TABLE body_digest_log RENAME TO body_digests;
CREATE INDEX body_digests_received ON body_digests (received_at);""",
        # migration 0015: the log is read and pruned in seq order, which is time order.
        "body_digests_by_seq": "DROP INDEX body_digests_received;",
    },
)

POSTGRESQL = Dialect(
    name="postgresql",
    positional=False,
    tokens={
        "id": 'text COLLATE "C"',
        "text": "text",
        "integer": "integer",
        "bigint": "bigint",
        "moment": "timestamptz",
        "json": "jsonb",
        "bytes": "bytea",
        "boolean": "boolean",
        "false": "false",
        "true": "true",
        "without_rowid": "",
        "greatest": "greatest",
        "octet_length": "octet_length",
        "as_json": "::jsonb",
        "as_bytes": "::bytea",
        "as_moment": "::timestamptz",
        "job_ids": "ARRAY(SELECT j.id FROM jobs j WHERE j.delivery_id = d.id ORDER BY j.id)",
        # SKIP LOCKED lets concurrent workers pass over each other's candidates instead of
        # queueing behind them; a job in a concurrency group is taken only by the
        # transaction that gets the group's lock, tried for the chosen job alone.
        "skip_locked": "FOR UPDATE SKIP LOCKED",
        "lock_row": "FOR NO KEY UPDATE",
        "take_group": (
            "AND (concurrency_group IS NULL "
            "OR pg_try_advisory_xact_lock(hashtextextended(concurrency_group, 0)))"
        ),
        "body_digest_log": "",
        "body_digests_by_seq": "",
        "json_texts": "SELECT jsonb_array_elements_text(:keys::jsonb)",
    },
)

DIALECTS = {dialect.name: dialect for dialect in (SQLITE, POSTGRESQL)}
