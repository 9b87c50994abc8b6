"""The one place that decides how a database URL may be shown: every banner, log line,
error and HTTP answer that names the database goes through `display_url`, and every driver
message goes through `scrub` before anyone sees it.

A URL's credentials are its userinfo's password (RFC 3986: the authority ends at the first
`/`, `?` or `#`, and its userinfo at the last `@` in it, so `u:p@ss@host` has the password
`p@ss`) and the values of secret query options (`password`, `sslpassword`, ...). A URL
hookd cannot read the way libpq would (a broken IPv6 host, an `@` after the authority, which
means a password holding `/` or `?`) is shown as `SCHEME://(credentials hidden)`: rather
nothing than a guess that prints half a password. No driver import, so this costs nothing."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlencode, urlsplit

MASK = "***"
HIDDEN = "(credentials hidden)"
# Query options whose values are secrets: libpq's password and sslpassword, and anything
# whose name says it is one.
_SECRET_OPTION = re.compile(r"pass|secret|token|key$", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"postgres(?:ql)?://[^\s\"']*", re.IGNORECASE)
_PIECES = re.compile(r"[@/?#:]")
_PASSWORD_PAIR = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def display_url(url: str) -> str:
    """`url` with every credential replaced by `***`; a URL that cannot be read safely
    becomes `SCHEME://(credentials hidden)`. `sqlite:///PATH` is shown as it is."""
    scheme, separator, _ = url.partition("://")
    if not separator:
        return _PASSWORD_PAIR.sub(rf"\g<1>{MASK}", url) if "=" in url else HIDDEN
    if scheme.lower() == "sqlite":
        return url
    parts = _split(url)
    if parts is None:
        return f"{scheme}://{HIDDEN}"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = [
            (key, MASK if _SECRET_OPTION.search(key) else value)
            for key, value in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="*/")
    return _joined(parts._replace(netloc=netloc, query=query))


def _split(url: str) -> SplitResult | None:
    """`url`'s parts, or None when it does not read unambiguously: urlsplit refuses it, or
    an `@` outside the authority says a password spilled over into the path or query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
        return None
    return parts


def url_secrets(url: str) -> tuple[str, ...]:
    """Every text of `url` that is or may be a secret, longest first: the password as
    urlsplit reads it, everything between the user name and the last `@` (what a reader
    less lenient than urlsplit might take for the password), secret query values; each as
    written and percent-decoded; and the pieces of these between `@`, `/`, `?`, `#` and `:`
    of at least 3 characters (libpq ends a password at its first `@` and takes the rest
    for the host, which its error messages repeat)."""
    found: set[str] = set()
    _, separator, rest = url.partition("://")
    if separator and "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    parts = _split(url)
    if parts is not None and parts.password:
        found.add(parts.password)
    for key, value in parse_qsl(url.partition("?")[2], keep_blank_values=True):
        if _SECRET_OPTION.search(key):
            found.add(value)
    found |= {unquote(secret) for secret in found}
    found |= {piece for secret in found for piece in _PIECES.split(secret) if len(piece) >= 3}
    return tuple(sorted((secret for secret in found if secret), key=len, reverse=True))


def scrub(text: str, url: str) -> str:
    """`text` (a driver's message, say) with `url` and any URL in it shown as
    `display_url` shows them, `password=...` pairs masked, and every text of `url` that may
    be a secret replaced by `***`."""
    text = text.replace(url, display_url(url))
    text = _URL_IN_TEXT.sub(lambda match: display_url(match.group(0)), text)
    text = _PASSWORD_PAIR.sub(rf"\g<1>{MASK}", text)
    for secret in url_secrets(url):
        text = text.replace(secret, MASK)
    return text


def normalized_url(url: str) -> str:
    """`url` as libpq should get it: the user name and password percent-encoded, so that a
    password holding `@`, `%` or `:` cannot make libpq read part of it as the host (and
    repeat it in an error). Raises ValueError for a URL `display_url` would hide."""
    parts = _split(url)
    if parts is None:
        raise ValueError("not a URL hookd can read")
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, colon, password = userinfo.partition(":")
    encoded = quote(unquote(user), safe="")
    if colon:
        encoded += ":" + quote(unquote(password), safe="")
    return _joined(parts._replace(netloc=f"{encoded}@{host}", fragment=""))


def _joined(parts: SplitResult) -> str:
    """`parts` as a URL, `//` kept with an empty host (`postgresql:///db?host=/run/...`),
    which urlunsplit drops for schemes it does not know."""
    url = f"{parts.scheme}://{parts.netloc}{parts.path}"
    url += f"?{parts.query}" if parts.query else ""
    return url + (f"#{parts.fragment}" if parts.fragment else "")
