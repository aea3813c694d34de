"""PostgreSQL adapter for the scale-out profile: a psycopg 3 connection pool used from threads.

The handlers' SQL is synchronous and shared with SQLite, so each transaction runs on a thread of
a pool as large as the connection pool, and the event loop only awaits its result. Transactions
run at PostgreSQL's default isolation, READ COMMITTED: the queue claim locks its rows, and the
repository locks or conditionally updates every row it changes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool

from vending.store.database import ConflictError, Row, RowBusy

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")

_CONFLICTS = (errors.DeadlockDetected, errors.SerializationFailure)


@functools.lru_cache(maxsize=2048)
def to_pyformat(sql: str) -> str:
    """Translate `?` placeholders to psycopg's `%s`, escaping literal `%` signs.

    NOTE: a `?` inside a string literal would be translated too; the project's SQL has none.
    """
    return sql.replace("%", "%%").replace("?", "%s")


def conninfo(url: str) -> str:
    """Return a libpq connection URL: `postgresql+psycopg://` and `postgres://` become
    `postgresql://`."""
    for scheme in SCHEMES:
        if url.startswith(scheme):
            return "postgresql://" + url[len(scheme) :]
    raise ValueError(f"invalid PostgreSQL URL {url!r}: expected postgresql://user@host/db")


def _without_nul(value: Any) -> Any:
    """Replace NUL characters, which PostgreSQL text cannot hold, with U+FFFD.

    Client input reaches queries as ids to look up (session ids, request ids, product ids).
    No stored id contains U+FFFD, so such a lookup finds nothing, as it would on SQLite, instead
    of failing. Stored names are validated first and never contain control characters.
    """
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


class PostgresTx:
    """A transaction on one pooled psycopg connection."""

    dialect = "postgresql"

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._cursor = connection.cursor()
        self._savepoints = 0

    def _execute(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        if any(isinstance(value, str) and "\x00" in value for value in params):
            params = [_without_nul(value) for value in params]
        try:
            return self._cursor.execute(to_pyformat(sql), params)
        except _CONFLICTS as exc:
            raise ConflictError(str(exc).strip()) from exc
        except errors.LockNotAvailable as exc:
            raise RowBusy(str(exc).strip()) from exc

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params).rowcount

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._execute(sql, params).fetchall()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self._cursor.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self._cursor.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self._cursor.execute(f"RELEASE SAVEPOINT {name}")


class PostgresDatabase:
    """The scale-out profile's database, shared by any number of gateway and worker processes.

    `pool_size` is the maximum number of connections this process opens, and the number of
    threads that run transactions. A transaction that PostgreSQL aborts to resolve a deadlock
    or a serialization failure is run again, up to `conflict_retries` times, so every function
    given to `write` must have no effect outside its transaction.
    """

    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 12, conflict_retries: int = 5) -> None:
        self.url = conninfo(url)
        self._conflict_retries = conflict_retries
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": False},
            open=True,
            name="vending",
        )
        self._threads = ThreadPoolExecutor(pool_size, thread_name_prefix="postgres")

    def _transaction(self, fn: Callable[[PostgresTx], T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(fn)
            except ConflictError as exc:
                if attempt > self._conflict_retries:
                    raise
                log.info("transaction conflict, retry %d: %s", attempt, exc)
                # Back off long enough for the surviving transaction to take the locks it was
                # waiting for, because a retry that arrives first would deadlock with it again.
                time.sleep(random.uniform(0.01, 0.05) * attempt)

    def _attempt(self, fn: Callable[[PostgresTx], T]) -> T:
        with self._pool.connection() as connection:
            try:
                result = fn(PostgresTx(connection))
            except BaseException:
                connection.rollback()
                raise
            try:
                connection.commit()
            except _CONFLICTS as exc:
                raise ConflictError(str(exc).strip()) from exc
            return result

    async def write(self, fn: Callable[[PostgresTx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._transaction, fn)

    async def read(self, fn: Callable[[PostgresTx], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._transaction, fn)

    def write_now(self, fn: Callable[[PostgresTx], T]) -> T:
        return self._transaction(fn)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._threads.shutdown, True)
        self._pool.close()
