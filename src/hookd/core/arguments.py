"""Where a rendered value could become an option of the program it is handed to.

A program reads a word that starts with `-` as an option (`git fetch origin
--upload-pack=CMD` runs CMD), so a payload value must never start an option the config did
not write. The rule: a word whose template text does not itself start with `-` may not
render to a value that does; words after a literal `--` are plain arguments to every
program that follows the convention, and pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

END_OF_OPTIONS = "--"

# What ends one simple command in a shell script: a new command's words start after it.
_COMMAND_BREAK = re.compile(r"[;&|\n(]|\$\(")
_END_OF_OPTIONS_WORD = re.compile(r"(?:^|[ \t])--(?:[ \t]|$)")
_WORD_BREAKS = " \t\n;&|()<>"


def option_word(words: Sequence[str], values: Sequence[str]) -> int | None:
    """The index of the first word whose rendered value starts an option its template
    text did not write, or None. `words` are the templates as written, `values` what
    each rendered to."""
    for index, (word, value) in enumerate(zip(words, values, strict=True)):
        if word == END_OF_OPTIONS:
            return None
        if value.startswith("-") and not word.startswith("-"):
            return index
    return None


def starts_a_shell_word(script_before: str, *, in_double_quotes: bool) -> bool:
    """Whether a value placed after `script_before` (the literal script text up to it)
    begins a word that an option could start: at a word break, or right inside a quote
    that opens a word, and not after a `--` word in the same command."""
    if in_double_quotes:
        if not script_before.endswith('"'):
            return False
        text = script_before[:-1]
    else:
        text = script_before.rstrip("\"'")
    if text and text[-1] not in _WORD_BREAKS:
        return False
    command = _COMMAND_BREAK.split(script_before)[-1]
    return _END_OF_OPTIONS_WORD.search(command) is None


def option_sentence(label: str, word: str, value: str) -> str:
    """The job's error for an option a payload value would have started."""
    shown = value if len(value) <= 80 else value[:77] + "..."
    return (
        f"command {label}: the word {word!r} renders {shown!r}, which starts with '-' and "
        "would be read as an option; write -- before the arguments that come from the "
        "payload (e.g. git fetch origin -- {{ ref | branch }})"
    )
