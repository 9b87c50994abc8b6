"""GitHub Actions filter patterns: the globs of `on.<event>.branches`, `tags` and `paths`.

The syntax and its meaning follow GitHub's "Workflow syntax for GitHub Actions", section
"Filter pattern cheat sheet":

- `*` matches zero or more characters, but not `/`;
- `**` matches zero or more of any character; `**/` may also match no directory at all, so
  `**/README.md` matches `README.md` and `docs/**/*.md` matches `docs/README.md` (both are
  the cheat sheet's own examples);
- `?` matches zero or one of the preceding character, `+` one or more of it;
- `[...]` matches one character listed in the brackets or in a range; ranges can only be
  within `a-z`, `A-Z` or `0-9`;
- `\\` makes the next character literal ("escape each of these special characters with \\");
- in a list of patterns, a leading `!` excludes what earlier patterns included.

A pattern matches the whole value, case-sensitively.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

_RANGES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def glob_matches(pattern: str, value: str) -> bool:
    """Whether `value` matches `pattern` as a whole.

    `pattern` has no leading `!` meaning (a `!` here is a literal character; lists with
    exclusions go through `filter_matches`). Raises ValueError if the pattern is invalid.
    """
    return compile_glob(pattern).fullmatch(value) is not None


def filter_matches(patterns: Sequence[str], value: str) -> bool:
    """Whether a filter list includes `value`, by GitHub's rule for `!` patterns.

    Patterns are read in order: a matching pattern includes the value, a matching
    `!pattern` excludes it again, and a later matching pattern may include it once more.
    The last pattern that matches decides; if none matches, the value is not included.
    Raises ValueError if a pattern is invalid.
    """
    decided = deciding_pattern(patterns, value)
    return decided is not None and not decided.startswith("!")


def deciding_pattern(patterns: Sequence[str], value: str) -> str | None:
    """The last pattern of `patterns` that matches `value`, as written (with its `!`), or None.

    This is the pattern that decides `filter_matches`, for traces that say why.
    """
    decided: str | None = None
    for pattern in patterns:
        if glob_matches(pattern.removeprefix("!"), value):
            decided = pattern
    return decided


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regular expression for `pattern` (without a leading `!`), for `fullmatch`.

    Compiled once per pattern and cached. Raises ValueError with a sentence naming the
    pattern when it is empty or invalid.
    """
    if not pattern:
        raise ValueError("a pattern cannot be empty")
    parts: list[str] = []
    repeatable = False
    pos = 0
    while pos < len(pattern):
        part, end = _translate_at(pattern, pos, repeatable)
        # `?` and `+` repeat "the preceding character": a literal or a `[...]`, never a
        # wildcard or another repetition (which Python would read as lazy or possessive).
        repeatable = pattern[pos] not in "*?+"
        parts.append(part)
        pos = end
    return re.compile("".join(parts), re.DOTALL)


def _translate_at(pattern: str, pos: int, repeatable: bool) -> tuple[str, int]:
    """The regex for the pattern element at `pos`, and the position after it."""
    char = pattern[pos]
    if char == "*":
        if pattern.startswith("**/", pos):
            return "(?:.+/)?", pos + 3
        if pattern.startswith("**", pos):
            return ".*", pos + 2
        return "[^/]*", pos + 1
    if char in "?+":
        if not repeatable:
            raise _invalid(
                pattern,
                pos,
                f"'{char}' repeats the preceding character, and there is none to repeat "
                f"(write '\\{char}' to match a literal '{char}')",
            )
        return char, pos + 1
    if char == "[":
        return _translate_brackets(pattern, pos)
    if char == "\\":
        if pos + 1 == len(pattern):
            raise _invalid(pattern, pos, "'\\' at the end escapes nothing")
        return re.escape(pattern[pos + 1]), pos + 2
    return re.escape(char), pos + 1


def _translate_brackets(pattern: str, start: int) -> tuple[str, int]:
    """The regex class for the `[...]` opening at `start`, and the position after it."""
    end = pattern.find("]", start + 1)
    if end == -1:
        raise _invalid(pattern, start, "'[' has no closing ']'")
    body = pattern[start + 1 : end]
    if not body:
        raise _invalid(pattern, start, "'[]' lists no characters")
    parts: list[str] = []
    pos = 0
    while pos < len(body):
        if pos + 2 < len(body) and body[pos + 1] == "-":
            low, high = body[pos], body[pos + 2]
            if not any(low in chars and high in chars and low <= high for chars in _RANGES):
                raise _invalid(
                    pattern,
                    start + 1 + pos,
                    f"the range '{low}-{high}' is not within a-z, A-Z or 0-9",
                )
            parts.append(f"{low}-{high}")
            pos += 3
        elif any(body[pos] in chars for chars in _RANGES):
            parts.append(body[pos])
            pos += 1
        else:
            raise _invalid(
                pattern,
                start + 1 + pos,
                f"'{body[pos]}' cannot be in brackets, which list only letters, digits and ranges",
            )
    return "[" + "".join(parts) + "]", end + 1


def _invalid(pattern: str, pos: int, problem: str) -> ValueError:
    return ValueError(f"invalid pattern {pattern!r}: at character {pos + 1}, {problem}")
