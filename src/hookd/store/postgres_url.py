"""hookd's PostgreSQL URLs: its own options in the query, and a form safe to print. No
driver import here, so printing a URL costs nothing."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from hookd.errors import StoreError

POOL_SIZE = 10
WAIT_SECONDS = 5.0
_HOOKD_OPTIONS = ("pool_size", "timeout")
_SECRET_OPTIONS = ("password", "sslpassword")


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed `postgresql://` URL. `conninfo` is what libpq gets (hookd's own options
    removed); `display` is safe to print (no password)."""

    conninfo: str
    display: str
    pool_size: int
    timeout: float


def parse_url(url: str) -> Target:
    """Read `postgresql://USER:PASSWORD@HOST:PORT/DB?pool_size=N&timeout=SECONDS`, where
    `pool_size` caps this process's connections (default 10) and `timeout` is how long an
    operation waits for a connection before failing (default 5 s); any other query option
    goes to libpq as it is (`sslmode`, `connect_timeout`, `application_name`, ...)."""
    base, _, query = url.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    ours = {key: value for key, value in pairs if key in _HOOKD_OPTIONS}
    rest = [(key, value) for key, value in pairs if key not in _HOOKD_OPTIONS]
    try:
        pool_size = int(ours.get("pool_size", POOL_SIZE))
        timeout = float(ours.get("timeout", WAIT_SECONDS))
    except ValueError as exc:
        raise StoreError(f"{display_url(url)}: pool_size and timeout must be numbers") from exc
    if pool_size < 1 or not timeout > 0:
        raise StoreError(f"{display_url(url)}: pool_size and timeout must be positive")
    conninfo = f"{base}?{urlencode(rest, safe='/')}" if rest else base
    return Target(conninfo, display_url(url), pool_size, timeout)


def display_url(url: str) -> str:
    """The URL with its password (in the authority or the query) replaced by `***`."""
    base, _, query = url.partition("?")
    scheme, separator, rest = base.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        credentials, host = authority.rsplit("@", 1)
        if ":" in credentials:
            authority = f"{credentials.split(':', 1)[0]}:***@{host}"
    shown = f"{scheme}{separator}{authority}{slash}{path}"
    if not query:
        return shown
    pairs = [
        (key, "***" if key in _SECRET_OPTIONS else value)
        for key, value in parse_qsl(query, keep_blank_values=True)
    ]
    return f"{shown}?{urlencode(pairs, safe='*/')}"
