"""Where a `forward:` may post: the scheme, host and port are the config's own text.

Templates may stand in the path and the query only, and what they print is
percent-encoded (core.render.render_url), so a payload value cannot add a `@`, a `//`, a
`?` or a `#`, or name another host. After rendering, the URL is checked again against the
config's origin, so a later change to either side cannot let a payload move it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from hookd.core.confine import literal_prefix

_ORIGIN = re.compile(r"(?is)^(https?)://([^/?#]+)([/?#].*)?$")


class ForwardUrlError(ValueError):
    """A forward URL that could reach a host the config did not write; a sentence."""


def check_forward_url(template: str) -> None:
    """Raise ForwardUrlError unless `template`'s scheme, host and port are literal text
    (for `hookd check` and start-up)."""
    prefix = literal_prefix(template)
    found = _ORIGIN.match(template if prefix is None else prefix)
    if prefix is not None and (found is None or found.group(3) is None):
        raise ForwardUrlError(_TEMPLATED_ORIGIN)
    if found is None:
        raise ForwardUrlError(f"{template!r} is not an http:// or https:// URL with a host")


_TEMPLATED_ORIGIN = (
    "the scheme, host and port must be written out: a template may stand only in the path "
    "or the query, after the '/' that ends the host"
)


def checked_forward_url(template: str, rendered: str) -> str:
    """`rendered` if it still has the origin `template` writes and no `.` or `..` path
    segment the template did not write; else ForwardUrlError."""
    prefix = literal_prefix(template)
    if prefix is None:
        return rendered
    expected, actual = urlsplit(prefix), urlsplit(rendered)
    origin = (expected.scheme, expected.netloc)
    if not rendered.startswith(prefix) or (actual.scheme, actual.netloc) != origin:
        raise ForwardUrlError(f"{template!r} renders {rendered!r}, which leaves {prefix!r}")
    added = actual.path[len(expected.path) :].split("/")
    if any(segment in (".", "..") for segment in added):
        raise ForwardUrlError(f"{template!r} renders {rendered!r}: a '.' or '..' path segment")
    return rendered
