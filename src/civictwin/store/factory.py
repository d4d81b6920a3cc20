"""Open the store a database URL names."""

from __future__ import annotations

from civictwin.errors import BadRequestData
from civictwin.store.base import Store


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Return a SQLite or PostgreSQL store for `url`, migrated to the newest schema."""
    store: Store
    if url.startswith("sqlite"):
        from civictwin.store.sqlite import SqliteStore

        store = SqliteStore(url)
    elif url.startswith("postgresql"):
        from civictwin.store.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise BadRequestData(f"database URL {url!r}: expected sqlite:///... or postgresql://...")
    if migrate:
        store.migrate()
    return store
