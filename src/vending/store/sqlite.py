"""SQLite adapter for the embedded profile: one writer thread, one reader thread, WAL mode.

All writes go through one connection on one thread, because SQLite allows one writer at a time;
queuing them in the process avoids lock waits and `SQLITE_BUSY`. Reads use a second connection,
which WAL lets run beside the writer.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from vending.store.database import Row, RowCountMismatch

T = TypeVar("T")


class SqliteTx:
    """A transaction on one sqlite3 connection."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._savepoints = 0

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._connection.execute(sql, params).rowcount

    def send(self, sql: str, params: Sequence[Any] = (), expect_rows: int | None = None) -> None:
        changed = self._connection.execute(sql, params).rowcount
        if expect_rows is not None and changed != expect_rows:
            raise RowCountMismatch(f"{changed} rows changed instead of {expect_rows}: {sql}")

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._connection.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._connection.execute(sql, params).fetchall()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self._connection.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._connection.execute(f"ROLLBACK TO {name}")
            self._connection.execute(f"RELEASE {name}")
            raise
        self._connection.execute(f"RELEASE {name}")


def sqlite_path(url: str) -> str:
    """Return the file path of a `sqlite:///path` URL (`sqlite:///:memory:` is not supported)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"invalid SQLite URL {url!r}: expected sqlite:///path/to/file.db")
    path = url[len(prefix) :]
    if path == ":memory:":
        raise ValueError("an in-memory SQLite database cannot hold the queues; give a file path")
    return path


class SqliteDatabase:
    """The embedded profile's database: one file holding the data and the queues.

    `synchronous` is SQLite's setting. With "full" (the default) a commit survives a power loss
    once it returns. "normal" in WAL mode may lose the last commits on a power loss, though not
    on a process crash. "off" may corrupt the file on a power loss.
    """

    dialect = "sqlite"

    def __init__(self, url: str, synchronous: str = "full") -> None:
        self.path = sqlite_path(url)
        self._synchronous = synchronous
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:
                connection = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=30
                )
                connection.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                raise ValueError(
                    f"cannot open the SQLite database {os.path.abspath(self.path)}: {exc}; "
                    "check that its folder exists and is writable"
                ) from exc
            connection.execute(f"PRAGMA synchronous={self._synchronous}")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _transaction(self, fn: Callable[[SqliteTx], T], begin: str) -> T:
        connection = self._connect()
        connection.execute(begin)
        try:
            result = fn(SqliteTx(connection))
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return result

    async def write(self, fn: Callable[[SqliteTx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._transaction, fn, "BEGIN IMMEDIATE")

    async def read(self, fn: Callable[[SqliteTx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._transaction, fn, "BEGIN")

    def write_now(self, fn: Callable[[SqliteTx], T]) -> T:
        return self._writer.submit(self._transaction, fn, "BEGIN IMMEDIATE").result()

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
