"""Transactions on both databases: statements sent without waiting, and savepoints.

On PostgreSQL a sent statement travels in pipeline mode and its error arrives later, and a
savepoint sends nothing unless the transaction has to run again with real savepoints. These
tests check what the caller gets: the error at the next read, at commit, or as a savepoint
that rolled back, never a write that should have been undone.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import suppress

import psycopg
import pytest

from vending.settings import Settings
from vending.store import migrate
from vending.store.connect import open_database
from vending.store.database import Database, RowCountMismatch, Tx

INSERT = "INSERT INTO meta (key, value) VALUES (?, ?)"
KEYS = "SELECT key, value FROM meta WHERE key LIKE 't-%' ORDER BY key"
VALUE = "SELECT value FROM meta WHERE key = ?"
DUPLICATE_KEY = r"duplicate|UNIQUE"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    store = open_database(database_url, Settings(pg_pool_size=2))
    migrate.upgrade(store)
    yield store
    await store.close()


async def keys(database: Database) -> list[tuple[object, ...]]:
    return await database.read(lambda tx: tx.all(KEYS))


async def test_sends_run_in_order(database: Database) -> None:
    def write(tx: Tx) -> object:
        tx.send(INSERT, ("t-a", "1"))
        tx.send("UPDATE meta SET value = ? WHERE key = ?", ("2", "t-a"), expect_rows=1)
        return tx.one("SELECT value FROM meta WHERE key = ?", ("t-a",))

    assert await database.write(write) == ("2",)
    assert await keys(database) == [("t-a", "2")]


async def test_mismatch_rolls_back_savepoint(database: Database) -> None:
    """On PostgreSQL the mismatch is found after the savepoint was left: the adapter throws the
    transaction away and runs it again checking each savepoint, so the function runs twice."""
    caught: list[str] = []
    runs: list[str] = []

    def write(tx: Tx) -> None:
        runs.append(tx.dialect)
        tx.send(INSERT, ("t-kept", "1"))
        try:
            with tx.savepoint():
                tx.send(INSERT, ("t-dropped", "1"))
                tx.send("UPDATE meta SET value = 'x' WHERE key = ?", ("t-absent",), expect_rows=1)
        except RowCountMismatch:
            caught.append(tx.dialect)
        tx.send(INSERT, ("t-after", "1"))
        tx.one("SELECT 1")

    await database.write(write)
    assert await keys(database) == [("t-after", "1"), ("t-kept", "1")]
    assert caught == [database.dialect]
    assert len(runs) == (2 if database.dialect == "postgresql" else 1)


async def test_failed_send_raised_at_next_read(
    database: Database,
) -> None:
    def write(tx: Tx) -> None:
        tx.send(INSERT, ("t-first", "1"))
        with pytest.raises(Exception, match=r"duplicate|UNIQUE"), tx.savepoint():
            tx.send(INSERT, ("t-second", "1"))
            tx.send(INSERT, ("t-first", "again"))
            tx.one("SELECT 1")
        tx.send(INSERT, ("t-third", "1"))

    await database.write(write)
    assert await keys(database) == [("t-first", "1"), ("t-third", "1")]


async def test_queued_mismatch_aborts_commit(
    database: Database,
) -> None:
    def write(tx: Tx) -> None:
        tx.send(INSERT, ("t-never", "1"))
        tx.send("DELETE FROM meta WHERE key = ?", ("t-absent",), expect_rows=1)

    with pytest.raises(RowCountMismatch):
        await database.write(write)
    assert await keys(database) == []


async def test_error_after_reads_keeps_transaction(database: Database) -> None:
    runs: list[str] = []

    def write(tx: Tx) -> None:
        runs.append(tx.dialect)
        tx.send(INSERT, ("t-before", "1"))
        with pytest.raises(LookupError), tx.savepoint():
            tx.one("SELECT value FROM meta WHERE key = ?", ("t-before",))
            raise LookupError("refused after reading")
        tx.send(INSERT, ("t-after", "1"))

    await database.write(write)
    assert await keys(database) == [("t-after", "1"), ("t-before", "1")]
    assert len(runs) == 1


async def test_error_after_write_undoes_it(database: Database) -> None:
    """On PostgreSQL the optimistic savepoint cannot undo the write: the transaction is run
    again with real savepoints."""
    runs: list[str] = []

    def write(tx: Tx) -> None:
        runs.append(tx.dialect)
        tx.send(INSERT, ("t-before", "1"))
        with pytest.raises(LookupError), tx.savepoint():
            tx.send(INSERT, ("t-undone", "1"))
            raise LookupError("refused after writing")
        tx.send(INSERT, ("t-after", "1"))

    await database.write(write)
    assert await keys(database) == [("t-after", "1"), ("t-before", "1")]
    assert len(runs) == (2 if database.dialect == "postgresql" else 1)


class Interrupted(BaseException):
    """Stands for a BaseException such as KeyboardInterrupt or SystemExit."""


async def test_base_exception_not_retried(database: Database) -> None:
    runs: list[str] = []

    def write(tx: Tx) -> None:
        runs.append(tx.dialect)
        with tx.savepoint():
            tx.send(INSERT, ("t-interrupted", "1"))
            raise Interrupted

    with pytest.raises(Interrupted):
        await database.write(write)
    assert runs == [database.dialect]
    assert await keys(database) == []


async def test_late_savepoint_error_undoes_only_it(database: Database) -> None:
    """On PostgreSQL the duplicate key is reported while a later statement is sent, outside
    the savepoint that sent the failing one. The transaction still runs again with checked
    savepoints, where the error stays inside that savepoint."""
    caught: list[str] = []

    def write(tx: Tx) -> None:
        tx.send(INSERT, ("t-first", "1"))
        tx.one("SELECT 1")
        try:
            with tx.savepoint():
                tx.send(INSERT, ("t-first", "again"))
        except Exception as exc:
            caught.append(type(exc).__name__)
        # A busy worker thread can wait this long for the CPU while PostgreSQL sends the error.
        time.sleep(0.2)
        tx.send(INSERT, ("t-after", "1"))

    await database.write(write)
    assert await keys(database) == [("t-after", "1"), ("t-first", "1")]
    assert caught == [("UniqueViolation" if database.dialect == "postgresql" else "IntegrityError")]


async def test_failed_savepoints_keep_statements_working(database: Database) -> None:
    """The first transaction's savepoint is undone after a write. On PostgreSQL the next
    transactions then check their savepoints for a second, so real savepoints roll back the
    later failures. The connection's statements must keep working after each of them."""

    def spoil(tx: Tx) -> None:
        with suppress(LookupError), tx.savepoint():
            tx.send(INSERT, ("t-undone", "1"))
            raise LookupError("undo the insert")

    await database.write(spoil)
    for n in range(12):
        key = f"t-{n:02d}"

        def write(tx: Tx, key: str = key) -> object:
            tx.send(INSERT, (key, "1"))
            with pytest.raises(Exception, match=DUPLICATE_KEY), tx.savepoint():
                tx.send(INSERT, (key, "again"))
                tx.one(VALUE, (key,))
            return tx.one(VALUE, (key,))

        assert await database.write(write) == ("1",), key
    assert len(await keys(database)) == 12


async def test_caught_error_never_reports_lost_commit(database: Database) -> None:
    """A failed statement aborts a PostgreSQL transaction, whose COMMIT then rolls back: the
    adapter raises instead of returning. SQLite keeps the transaction going and commits."""

    def write(tx: Tx) -> str:
        tx.run(INSERT, ("t-kept", "1"))
        with suppress(Exception):
            tx.run(INSERT, ("t-kept", "again"))
        return "committed"

    if database.dialect == "postgresql":
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            await database.write(write)
        assert await keys(database) == []
    else:
        assert await database.write(write) == "committed"
        assert await keys(database) == [("t-kept", "1")]
