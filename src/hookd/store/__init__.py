"""Durable storage behind one `Store` interface; `open_store` picks the backend by URL."""

from __future__ import annotations

from hookd.errors import StoreError
from hookd.store.base import Store
from hookd.store.database_url import display_url


def store_for(url: str) -> Store:
    """A store for a `sqlite:///PATH` or a `postgresql://` (or `postgres://`) URL."""
    if url.startswith("sqlite:///"):
        from hookd.store.sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from hookd.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(
        f"no store backend for {display_url(url)}: expected sqlite:///PATH or postgresql://..."
    )
