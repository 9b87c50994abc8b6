"""Every SQL statement of the store is written once, in hookd.store.queries (migrations in
hookd.store.migrations/): no backend module holds a statement of its own, no two named
queries are the same, rows are read by column name, and each migration is one file."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hookd.store import queries
from hookd.store.dialect import DIALECTS
from hookd.store.queries import Query

STORE = Path(queries.__file__).parent
STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|LISTEN|NOTIFY) ")
# Where statements are written (queries), or their dialect's words are (dialect).
HOMES = {"queries.py", "dialect.py"}


def _strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        if isinstance(node, ast.JoinedStr):  # an f-string's literal parts, joined
            parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
            found.append((node.lineno, "".join(str(part) for part in parts)))
    return found


def test_no_store_module_but_queries_writes_a_statement() -> None:
    written = [
        f"{path.name}:{line}: {text.strip()[:60]}"
        for path in sorted(STORE.glob("*.py"))
        if path.name not in HOMES
        for line, text in _strings(path)
        if STATEMENT.match(text)
    ]
    assert written == []


def test_every_named_query_is_a_different_statement() -> None:
    named = [value for value in vars(queries).values() if isinstance(value, Query)]
    assert len({query.name for query in named}) == len(named)
    templates = [" ".join(query.template.split()) for query in named]
    assert len(set(templates)) == len(templates)
    assert all(set(query.texts) <= set(DIALECTS) for query in named)


def test_the_store_reads_no_row_by_position() -> None:
    positional = re.compile(r"\b(row|piece|located|busy)\[\d+\]|fetchone\(\)\[\d+\]")
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(STORE.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if positional.search(line)
    ]
    assert found == []


def test_each_migration_is_one_file_for_both_backends() -> None:
    folder = STORE / "migrations"
    assert not [entry for entry in folder.iterdir() if entry.is_dir()]
    names = sorted(entry.name for entry in folder.glob("*.sql"))
    assert names[0] == "0001_deliveries.sql" and "0009_status_checks.sql" in names
