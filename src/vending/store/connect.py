"""Open a database from its URL; the scheme picks the adapter."""

from __future__ import annotations

from vending.settings import Settings
from vending.store.database import Database
from vending.store.postgres import SCHEMES, PostgresDatabase
from vending.store.sqlite import SqliteDatabase


def open_database(url: str, settings: Settings) -> Database:
    """Return the adapter for `url`: `sqlite:///path` or `postgresql://...`."""
    if url.startswith("sqlite:"):
        return SqliteDatabase(url, synchronous=settings.sqlite_synchronous)
    if url.startswith(SCHEMES):
        return PostgresDatabase(url, pool_size=settings.pg_pool_size)
    raise ValueError(
        f"unsupported database URL {url!r}: expected sqlite:///path or postgresql://host/db"
    )
