"""The database interface that the queues, the workers and the gateway use.

A `Database` runs a function inside one transaction on a thread of its own, so the event loop
does not wait on disk (except in `write_now`, meant for setup) and the same synchronous SQL
serves SQLite and PostgreSQL. SQL uses `?` placeholders, which adapters translate to their
driver's style.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = tuple[Any, ...]


class ConflictError(Exception):
    """The database aborted a transaction to resolve a lock conflict (a deadlock or a
    serialization failure). Nothing of it was kept, and running it again may succeed."""


class RowBusy(Exception):
    """A row that a request needs is locked by another transaction, which will soon commit.

    It is raised instead of waiting for the lock, so two workers cannot deadlock on such rows.
    The request is applied again in a later transaction.
    """


class RowCountMismatch(RuntimeError):
    """A statement sent with `expect_rows` changed another number of rows: a row was not in the
    state the transaction had read. The request fails this attempt and is tried again."""


class Tx(Protocol):
    """One open transaction."""

    dialect: str

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement and return the number of rows it changed."""
        ...

    def send(self, sql: str, params: Sequence[Any] = (), expect_rows: int | None = None) -> None:
        """Execute a statement whose result the caller does not read.

        The adapter may send it without waiting for the database, together with the statements
        that follow. An error it causes, or a row count other than `expect_rows`
        (`RowCountMismatch`), is then raised by the next call that reads a result (`run`, `one`,
        `all`), or at commit. It is never raised outside its savepoint: an adapter that finds it
        too late runs the transaction again with savepoints that are checked before leaving.
        """
        ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Execute a query and return its first row, or None."""
        ...

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Execute a query and return every row."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """Open a savepoint: an exception inside rolls back to it and propagates."""
        ...


class Database(Protocol):
    """A connection pool that runs functions inside transactions."""

    dialect: str

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn` in a write transaction and commit; roll back and re-raise on error.

        An adapter may run `fn` again after a `ConflictError`, so `fn` must change nothing
        outside the transaction.
        """
        ...

    async def read(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn` in a read-only transaction."""
        ...

    def write_now(self, fn: Callable[[Tx], T]) -> T:
        """Run `fn` in a write transaction on the calling thread (setup and command-line use)."""
        ...

    async def close(self) -> None:
        """Finish running transactions and close every connection."""
        ...


def iter_batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Yield `items` in slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
