"""Open a database from its URL; the scheme picks the adapter."""

from __future__ import annotations

from vending.settings import Settings
from vending.store.database import Database
from vending.store.postgres import SCHEMES, PostgresDatabase, check_reachable
from vending.store.sqlite import SqliteDatabase


def open_database(url: str, settings: Settings) -> Database:
    """Return the adapter for `url`: `sqlite:///path` or `postgresql://...`.

    Raise ValueError for an unsupported URL or a PostgreSQL server that refuses to connect.
    """
    if url.startswith("sqlite:"):
        return SqliteDatabase(url, synchronous=settings.sqlite_synchronous)
    if url.startswith(SCHEMES):
        check_reachable(url)
        return PostgresDatabase(url, pool_size=settings.pg_pool_size)
    raise ValueError(
        f"unsupported database URL {url!r}: expected sqlite:///path or postgresql://host/db"
    )
