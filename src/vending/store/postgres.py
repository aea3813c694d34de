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
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, NoReturn, TypeVar

import psycopg
from psycopg import errors, pq
from psycopg_pool import ConnectionPool

from vending.store.database import ConflictError, Row, RowBusy, RowCountMismatch

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")

_CONFLICTS = (errors.DeadlockDetected, errors.SerializationFailure)

_CHECKED_AFTER_SPOIL = 1.0
"""Seconds during which transactions start with checked savepoints after one was spoiled."""


@functools.lru_cache(maxsize=2048)
def to_pyformat(sql: str) -> str:
    """Translate `?` placeholders to psycopg's `%s`, escaping literal `%` signs.

    NOTE: a `?` inside a string literal would be translated too; the project's SQL has none.
    """
    return sql.replace("%", "%%").replace("?", "%s")


_READS = re.compile(r"\s*(SELECT|WITH|VALUES|TABLE)\b", re.IGNORECASE)
_LOCKS = re.compile(r"\bFOR (NO KEY )?UPDATE\b", re.IGNORECASE)
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE|INTO)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=2048)
def changes_data(sql: str) -> bool:
    """Return True unless `sql` only reads.

    A query (SELECT, WITH, VALUES, TABLE) reads unless it has a data-changing part or is a
    `SELECT INTO`. A `FOR UPDATE` lock counts as reading. Every other statement (savepoint
    commands, DDL, TRUNCATE, COPY, CALL) counts as a change.
    NOTE: a query that calls a function with side effects, such as `nextval` or `pg_notify`,
    counts as reading.
    """
    return _READS.match(sql) is None or _WRITES.search(_LOCKS.sub("", sql)) is not None


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


@contextmanager
def _translated() -> Iterator[None]:
    """Raise the database's lock conflicts as the store's own exceptions."""
    try:
        yield
    except _CONFLICTS as exc:
        raise ConflictError(str(exc).strip()) from exc
    except errors.LockNotAvailable as exc:
        raise RowBusy(str(exc).strip()) from exc


class SpoiledTransaction(ConflictError):
    """A statement of a savepoint that had already been left failed, so the failure can no
    longer be undone alone. Nothing of the transaction is kept, and the adapter runs it again
    with every savepoint checked before it is left."""


class PostgresTx:
    """A transaction on one pooled psycopg connection in pipeline mode.

    `send` queues a statement without waiting for PostgreSQL. The calls that read a result
    (`run`, `one`, `all`) send a sync and wait for every queued statement, so their round trip
    carries the queued ones too. A queued statement's error, or a row count other than the one
    it expects, is raised at that sync, or at commit, which syncs first when anything is still
    queued.

    Savepoints are optimistic unless `check_savepoints` is set: they send nothing, and their
    last statements travel with the next read. They stay valid while nothing fails that has to
    be undone: an exception after a statement inside that changes data, a statement inside
    that fails, or a failure of a statement queued before the savepoint was left. Any of
    these spoils the transaction (`SpoiledTransaction`), and the adapter runs it again with
    `check_savepoints` set: real savepoints, with a sync before each is left, so a failure
    rolls back only its own savepoint. Without a pipeline, every statement waits for its
    result and savepoints are real.
    """

    dialect = "postgresql"

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        pipeline: psycopg.Pipeline | None = None,
        check_savepoints: bool = False,
    ) -> None:
        self._connection = connection
        self._pipeline = pipeline
        self._check_savepoints = check_savepoints or pipeline is None
        self._results = connection.cursor()
        self._sends = connection.cursor()
        self._checks: list[tuple[psycopg.Cursor[Any], int, str]] = []
        self._spare: list[psycopg.Cursor[Any]] = []
        self._queued = 0
        self._left_savepoint_queued = False
        self._writes = 0
        self._failures = 0
        self._spoiled: SpoiledTransaction | None = None
        self._savepoints = 0

    def _execute(self, cursor: psycopg.Cursor[Any], sql: str, params: Sequence[Any]) -> None:
        if self._spoiled is not None:
            raise self._spoiled
        if changes_data(sql):
            self._writes += 1
        if any(isinstance(value, str) and "\x00" in value for value in params):
            params = [_without_nul(value) for value in params]
        try:
            with _translated():
                cursor.execute(to_pyformat(sql), params)
        except Exception as exc:
            self._failures += 1
            # In pipeline mode `execute` also reads the results that have already arrived, so
            # the error may come from a statement of a savepoint that was left earlier.
            if self._left_savepoint_queued:
                self._spoil(f"a statement of a savepoint left earlier: {exc}", exc)
            raise

    def _spoil(self, reason: str, exc: BaseException) -> NoReturn:
        """Mark the transaction spoiled and raise SpoiledTransaction from `exc`."""
        self._spoiled = SpoiledTransaction(reason)
        raise self._spoiled from exc

    def _cursor(self) -> psycopg.Cursor[Any]:
        """Return a spare cursor, whose result was already read, or a new one."""
        return self._spare.pop() if self._spare else self._connection.cursor()

    def _sync(self) -> None:
        """Wait for every queued statement and raise its error or a row count mismatch."""
        if self._spoiled is not None:
            raise self._spoiled
        left_savepoint, self._left_savepoint_queued = self._left_savepoint_queued, False
        checks, self._checks = self._checks, []
        self._queued = 0
        try:
            if self._pipeline is not None:
                try:
                    with _translated():
                        self._pipeline.sync()
                except Exception:
                    self._failures += 1
                    raise
            for cursor, expected, sql in checks:
                if cursor.rowcount != expected:
                    raise RowCountMismatch(
                        f"{cursor.rowcount} rows changed instead of {expected}: {sql}"
                    )
                self._spare.append(cursor)
        except Exception as exc:
            if not left_savepoint:
                raise
            self._spoil(f"a statement of a savepoint left earlier: {exc}", exc)

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._execute(self._results, sql, params)
        self._sync()
        return self._results.rowcount

    def send(self, sql: str, params: Sequence[Any] = (), expect_rows: int | None = None) -> None:
        if expect_rows is None:
            self._execute(self._sends, sql, params)
        else:
            cursor = self._cursor()
            self._execute(cursor, sql, params)
            self._checks.append((cursor, expect_rows, sql))
        self._queued += 1

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._execute(self._results, sql, params)
        self._sync()
        row: Row | None = self._results.fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._execute(self._results, sql, params)
        self._sync()
        return self._results.fetchall()

    def flush(self) -> None:
        """Wait for every queued statement, as `_sync` does, unless none is queued."""
        if self._queued or self._spoiled is not None:
            self._sync()

    def savepoint(self) -> AbstractContextManager[None]:
        if self._check_savepoints:
            return self._real_savepoint()
        return self._optimistic_savepoint()

    @contextmanager
    def _optimistic_savepoint(self) -> Iterator[None]:
        """Open a savepoint that sends nothing, valid while what fails inside changed nothing.

        Should a statement inside fail, or an exception leave after a statement that changes
        data, the transaction is spoiled, and the adapter runs it again with real savepoints.
        Rows that reads inside locked stay locked until the transaction ends.
        """
        writes, failures = self._writes, self._failures
        try:
            yield
        except SpoiledTransaction:
            raise
        except Exception as exc:
            if self._writes != writes or self._failures != failures:
                self._spoil(f"a savepoint's writes must be undone: {exc}", exc)
            raise
        except BaseException as exc:
            # KeyboardInterrupt, SystemExit or a cancellation ends the transaction instead of
            # running it again, but nothing after it may commit the writes it could not undo.
            if self._writes != writes or self._failures != failures:
                self._spoiled = SpoiledTransaction(f"a savepoint's writes must be undone: {exc}")
            raise
        if self._queued:
            self._left_savepoint_queued = True

    @contextmanager
    def _real_savepoint(self) -> Iterator[None]:
        """Open a real savepoint and sync before leaving it: a failure undoes only its work."""
        if self._checks:
            # Checks of the enclosing level must not be cleared with this savepoint's.
            self._sync()
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self.send(f"SAVEPOINT {name}")
        try:
            yield
            self.flush()
        except BaseException:
            # The statements queued inside are rolled back, so their errors and counts no
            # longer matter. A sync ends the pipeline's aborted state if one of them failed.
            self._checks.clear()
            with suppress(psycopg.Error, RowBusy):
                self._sync()
            self.send(f"ROLLBACK TO SAVEPOINT {name}")
            self.send(f"RELEASE SAVEPOINT {name}")
            raise
        self.send(f"RELEASE SAVEPOINT {name}")


def check_reachable(url: str, timeout: int = 10) -> None:
    """Connect once to `url` and raise ValueError with PostgreSQL's reason when that fails.

    Without this, a pool would retry in the background and the caller would wait for its
    timeout with the reason only in warnings.
    """
    try:
        with psycopg.connect(conninfo(url), connect_timeout=timeout):
            pass
    except psycopg.OperationalError as exc:
        info = psycopg.conninfo.conninfo_to_dict(conninfo(url))
        name = info.get("dbname", "")
        where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"
        reason = " ".join(str(exc).split())
        if "does not exist" in reason:
            hint = f"create it first, for example with: createdb -h {info.get('host')} {name}"
        else:
            hint = "check that the server runs there and that the URL is right"
        raise ValueError(
            f"cannot connect to PostgreSQL database {name!r} at {where}: {reason}; {hint}"
        ) from exc


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
        self._checked_until = 0.0

    def _transaction(self, fn: Callable[[PostgresTx], T]) -> T:
        attempt = 0
        check_savepoints = time.monotonic() < self._checked_until
        while True:
            attempt += 1
            try:
                return self._attempt(fn, check_savepoints)
            except SpoiledTransaction as exc:
                if check_savepoints:
                    raise
                log.info("transaction spoiled, running it again with checked savepoints: %s", exc)
                check_savepoints = True
                # Where one transaction failed, the next ones likely fail alike (another worker
                # has locked the rows they need), so they start with checked savepoints.
                self._checked_until = time.monotonic() + _CHECKED_AFTER_SPOIL
            except ConflictError as exc:
                if attempt > self._conflict_retries:
                    raise
                log.info("transaction conflict, retry %d: %s", attempt, exc)
                # Back off long enough for the surviving transaction to take the locks it was
                # waiting for, because a retry that arrives first would deadlock with it again.
                time.sleep(random.uniform(0.01, 0.05) * attempt)

    def _attempt(self, fn: Callable[[PostgresTx], T], check_savepoints: bool) -> T:
        with self._pool.connection() as connection:
            threshold = connection.prepare_threshold
            if check_savepoints:
                # psycopg 3.3 records a statement as prepared when it queues the statement's
                # Parse, even if the Parse follows a failed statement in the pipeline and
                # PostgreSQL skips it. A real savepoint lets the transaction go on after such
                # a failure, and every later use of the statement on this connection would
                # fail, so checked transactions use no prepared statements.
                connection.prepare_threshold = None
            try:
                with connection.pipeline() as pipeline:
                    tx = PostgresTx(connection, pipeline, check_savepoints)
                    result = fn(tx)
                    tx.flush()
                    if connection.info.transaction_status == pq.TransactionStatus.INERROR:
                        # PostgreSQL would roll the transaction back on COMMIT, so nothing of
                        # `fn` would be kept.
                        raise errors.InFailedSqlTransaction(
                            "a statement failed and the transaction function caught its error, "
                            "so the transaction was rolled back instead of committed. Let the "
                            "error propagate, or run the statement in a savepoint and catch the "
                            "error outside it"
                        )
                    with _translated():
                        connection.commit()
            except BaseException:
                connection.rollback()
                raise
            finally:
                connection.prepare_threshold = threshold
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
