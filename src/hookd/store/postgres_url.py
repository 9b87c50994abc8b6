"""hookd's PostgreSQL URLs: its own options in the query, and what libpq gets. How a URL is
shown, and how a driver message is cleaned of it, is `hookd.store.database_url`'s. No driver
import here, so printing a URL costs nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from hookd.errors import StoreError
from hookd.store.database_url import display_url, normalized_url, scrub

POOL_SIZE = 10
WAIT_SECONDS = 5.0
_HOOKD_OPTIONS = ("pool_size", "timeout")


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed `postgresql://` URL. `conninfo` is what libpq gets (hookd's own options
    removed, user name and password percent-encoded); `display` is safe to print."""

    conninfo: str
    display: str
    pool_size: int
    timeout: float
    url: str = field(repr=False)

    def scrub(self, text: str) -> str:
        """`text` (a driver's message) with nothing of this URL's credentials left."""
        return scrub(text, self.url)


def parse_url(url: str) -> Target:
    """Read `postgresql://USER:PASSWORD@HOST:PORT/DB?pool_size=N&timeout=SECONDS`, where
    `pool_size` caps this process's connections (default 10) and `timeout` is how long an
    operation waits for a connection before failing (default 5 s); any other query option
    goes to libpq as it is (`sslmode`, `connect_timeout`, `application_name`, ...)."""
    try:
        base, _, query = normalized_url(url).partition("?")
    except ValueError as exc:
        raise StoreError(
            f"{display_url(url)}: not a URL hookd can read (a broken host, or a password "
            "holding '/', '?' or '#' that is not percent-encoded)"
        ) from exc
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
    return Target(conninfo, display_url(url), pool_size, timeout, url)
