"""Keeping a templated path (`cwd:`, `mirror:`) inside what the config's own text names.

The config's literal text before the first template (`/srv/mirrors/` in
`/srv/mirrors/{{ repository.full_name }}`) is the fence: the rendered path must start with
it, and what follows may not climb out with a `..` segment (the config's own `..` belongs
before the first template), start over at `/`, or carry a NUL byte. A path that is all
literal text is the config's own and is taken as written.
"""

from __future__ import annotations

import posixpath
import re

_TEMPLATE_START = re.compile(r"\{[{%#]")
# What a mirror's folder name keeps of a repository name; anything else becomes `_`.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class PathEscape(ValueError):
    """A rendered path leaves what the config names; the message is a sentence."""


def literal_prefix(template: str) -> str | None:
    """The template's text before its first `{{`, `{%` or `{#`; None if it has none."""
    found = _TEMPLATE_START.search(template)
    return None if found is None else template[: found.start()]


def confined_path(template: str, rendered: str, *, safe_names: bool = False) -> str:
    """`rendered` (what `template` rendered to), normalised, if it stays inside the
    template's literal prefix; else PathEscape. With `safe_names`, the characters the
    templates added that are outside `A-Za-z0-9._-` (and `/` between folders) become `_`:
    a mirror's folder from a repository name keeps `owner/name` but nothing stranger."""
    if "\0" in rendered:
        raise PathEscape(f"{template!r} renders a path with a NUL byte")
    prefix = literal_prefix(template)
    if prefix is None:
        return rendered
    if not rendered.startswith(prefix):
        raise PathEscape(f"{template!r} renders {rendered!r}, which does not start with {prefix!r}")
    added = rendered[len(prefix) :]
    if (not prefix or prefix.endswith("/")) and added.startswith("/"):
        raise PathEscape(
            f"{template!r} renders {rendered!r}: a value from the payload makes it absolute"
        )
    # From the prefix's last folder on: `/srv/.` + `./etc` makes a `..` across the seam.
    if ".." in rendered[prefix.rfind("/") + 1 :].split("/"):
        raise PathEscape(
            f"{template!r} renders {rendered!r}: a '..' segment after its first template "
            f"would leave {prefix or 'the working folder'!r}"
        )
    if safe_names:
        added = "/".join(_UNSAFE.sub("_", part) for part in added.split("/"))
    return posixpath.normpath(prefix + added) if prefix + added else rendered
