"""Read-only checks on a service's SQLite file: the audit and the ledger rows."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from vending.store.audit import AuditReport, audit
from vending.store.sqlite import SqliteTx, sqlite_path


def run_audit(database_url: str) -> AuditReport:
    """Run the app's audit on its own connection to the database file."""
    with closing(sqlite3.connect(sqlite_path(database_url), isolation_level=None)) as connection:
        connection.execute("BEGIN")
        try:
            return audit(SqliteTx(connection))
        finally:
            connection.execute("ROLLBACK")


def query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(sqlite_path(database_url))) as connection:
        return connection.execute(sql, params).fetchall()
