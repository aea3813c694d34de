"""Read-only checks on a service's database: the audit and the ledger rows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from vending.settings import Settings
from vending.store.audit import AuditReport, audit
from vending.store.connect import open_database
from vending.store.database import Tx

T = TypeVar("T")


def _with_database(database_url: str, fn: Callable[[Tx], T]) -> T:
    """Run `fn` in a transaction on a connection of its own, then close that connection.

    The adapter's `close` is a coroutine; it runs on a thread of its own, because the caller may
    be inside a running event loop.
    """
    database = open_database(database_url, Settings(database=database_url))
    try:
        return database.write_now(fn)
    finally:
        closer = threading.Thread(target=asyncio.run, args=(database.close(),))
        closer.start()
        closer.join()


def run_audit(database_url: str) -> AuditReport:
    """Run the app's audit on its own connection to the database."""
    return _with_database(database_url, audit)


def query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the rows of `sql` (with `?` placeholders) on the database."""
    return _with_database(database_url, lambda tx: tx.all(sql, params))


def execute(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    """Run one statement (with `?` placeholders) and return the number of rows it changed."""
    return _with_database(database_url, lambda tx: tx.run(sql, params))


def dump_tables(database_url: str, tables: list[str]) -> bytes:
    """Return every row of `tables` as text, to search for values that must not be stored."""
    rows = _with_database(
        database_url,
        lambda tx: [row for table in tables for row in tx.all(f"SELECT * FROM {table}")],
    )
    return repr(rows).encode()
