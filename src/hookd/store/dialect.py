"""Where SQLite's SQL and PostgreSQL's differ, and nowhere else.

Every statement (`hookd.store.queries`) and migration (`hookd.store.migrations`) is written
once, with `:name` parameters and `{token}`s for the few words the two spell differently;
a `Dialect` renders it for its backend. What a driver binds or returns differently is
handled here too: SQLite keeps moments as ISO 8601 text (`iso`), PostgreSQL as timestamptz.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hookd.store.records import iso

_PARAMETER = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    tokens: Mapping[str, str]
    """What each `{token}` of a statement or migration becomes."""
    named_parameters: bool
    """Whether the driver takes `:name` as it is (sqlite3), else `%(name)s` (psycopg)."""

    def schema(self, template: str) -> str:
        """A migration in this dialect (no parameters)."""
        return template.format_map(self.tokens)

    def render(self, template: str) -> str:
        """A statement in this dialect, its `:name` parameters in the driver's style."""
        text = self.schema(template)
        if self.named_parameters:
            return text
        return _PARAMETER.sub(r"%(\1)s", text.replace("%", "%%"))

    def bind(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """Parameters as the driver takes them: moments as text for SQLite."""
        if not self.named_parameters:
            return params
        return {k: iso(v) if isinstance(v, datetime) else v for k, v in params.items()}

    def check(self, table: str, column: str, allowed: tuple[str, ...]) -> str:
        """Statements that make `table` refuse a `column` value not in `allowed`, on an
        existing table. SQLite cannot add a CHECK to one short of copying it whole (the
        deliveries with their bodies), so there two triggers refuse the write instead."""
        listed = ", ".join(f"'{value}'" for value in allowed)
        if not self.named_parameters:
            return (
                f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_check "
                f"CHECK ({column} IN ({listed}));"
            )
        message = f"{table}.{column} must be one of {', '.join(allowed)}"
        return "\n".join(
            f"CREATE TRIGGER {table}_{column}_check_{event.split()[0].lower()} "
            f"BEFORE {event} ON {table} WHEN NEW.{column} NOT IN ({listed}) "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
            for event in ("INSERT", f"UPDATE OF {column}")
        )


SQLITE = Dialect(
    name="sqlite",
    named_parameters=True,
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
    },
)

POSTGRESQL = Dialect(
    name="postgresql",
    named_parameters=False,
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
    },
)

DIALECTS = {dialect.name: dialect for dialect in (SQLITE, POSTGRESQL)}
