"""pydantic's validation errors as hookd says them: each a key path and a sentence.

One translator for every place that validates with pydantic (the config file, a hook's
`github:`/`gitlab:` steps, the API's query parameters), so a problem reads the same
wherever it is found. The key path leaves out the union member pydantic tried (`str`,
`list[str]`, `function-before[...]`), which is not a key anyone wrote.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from hookd.config.yamlsource import Path as KeyPath

# What the config file and steps say for pydantic's error types, where its own message
# would name pydantic's terms ("Extra inputs are not permitted").
CONFIG_WORDING: Mapping[str, str] = {"extra_forbidden": "unknown key", "missing": "required"}


def validation_problems(
    exc: ValidationError, wording: Mapping[str, str] = CONFIG_WORDING
) -> list[tuple[KeyPath, str]]:
    """Every problem of `exc`, in pydantic's order: the key path, and the sentence that
    `wording` gives its error type, else pydantic's message without "Value error, "."""
    problems: list[tuple[KeyPath, str]] = []
    for error in exc.errors(include_input=False, include_url=False):
        path = tuple(part for part in error["loc"] if not _is_union_tag(part))
        message = wording.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
        problems.append((path, message))
    return problems


def _is_union_tag(part: str | int) -> bool:
    return isinstance(part, str) and ("[" in part or part in {"str", "list", "int"})
