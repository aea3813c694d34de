"""The PostgreSQL adapter and the queue SQL on a real server: placeholders, savepoints,
conflicts, and claiming by concurrent workers."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from vending.domain.products import Product
from vending.queues import fifo
from vending.settings import Settings
from vending.store import migrate, repository
from vending.store.connect import open_database
from vending.store.database import ConflictError, RowBusy, RowCountMismatch
from vending.store.postgres import PostgresDatabase, PostgresTx, changes_data, to_pyformat

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    store = PostgresDatabase(postgres_url, pool_size=4)
    migrate.upgrade(store)
    yield store
    await store.close()


@pytest.fixture
def connections(postgres_url: str) -> Iterator[list[psycopg.Connection[tuple[object, ...]]]]:
    """Two connections with open transactions, as two worker processes would hold."""
    opened = [psycopg.connect(postgres_url) for _ in range(2)]
    yield opened
    for connection in opened:
        connection.close()


def request(queue: str, req_id: str, okey: str) -> fifo.NewRequest:
    return fifo.NewRequest(queue, req_id, okey, "deposit", b'{"coin": 5}', None, 1)


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("SELECT uid FROM products WHERE uid = ? FOR UPDATE NOWAIT", False),
        ("WITH p AS (SELECT 1 FROM products FOR UPDATE) SELECT updated_at FROM p", False),
        ("WITH k AS (INSERT INTO order_keys VALUES (?) RETURNING 1) SELECT 1 FROM k", True),
        ("update users SET deposit = ? WHERE uid = ?", True),
        ("DELETE FROM queue WHERE id = ?", True),
        ("SELECT uid FROM products WHERE uid = ? FOR SHARE", False),
        ("TRUNCATE ledger", True),
        ("CREATE TABLE copy_of_users (uid TEXT)", True),
        ("SELECT * INTO copy_of_users FROM users", True),
        ("SAVEPOINT sp1", True),
    ],
)
def test_changes_data_classifies_sql(sql: str, writes: bool) -> None:
    assert changes_data(sql) is writes


def test_placeholders_keep_percent_signs() -> None:
    assert to_pyformat("SELECT ? WHERE x LIKE '%a'") == "SELECT %s WHERE x LIKE '%%a'"


async def test_percent_literal_round_trip(database: PostgresDatabase) -> None:
    def write(tx: PostgresTx) -> object:
        tx.run("INSERT INTO meta (key, value) VALUES (?, '100%')", ("k",))
        return tx.one("SELECT value FROM meta WHERE key LIKE 'k%'")

    assert await database.write(write) == ("100%",)


async def test_savepoint_rolls_back_inner_writes(database: PostgresDatabase) -> None:
    def write(tx: PostgresTx) -> list[tuple[object, ...]]:
        tx.run("INSERT INTO meta (key, value) VALUES ('kept', '1')")
        with pytest.raises(ValueError), tx.savepoint():
            tx.run("INSERT INTO meta (key, value) VALUES ('dropped', '1')")
            raise ValueError("undo")
        return tx.all("SELECT key FROM meta WHERE key IN ('kept', 'dropped')")

    assert await database.write(write) == [("kept",)]


async def test_failed_statement_in_savepoint_keeps_transaction(
    database: PostgresDatabase,
) -> None:
    def write(tx: PostgresTx) -> object:
        with pytest.raises(psycopg.errors.UniqueViolation), tx.savepoint():
            tx.run("INSERT INTO meta (key, value) VALUES ('install_salt', 'x')")
        return tx.one("SELECT COUNT(*) FROM meta")

    assert await database.write(write) == (1,)


def test_deadlock_is_retried(database: PostgresDatabase) -> None:
    database.write_now(lambda tx: tx.run("INSERT INTO meta VALUES ('a', '0'), ('b', '0')"))
    both_locked_once = threading.Barrier(2, timeout=10)
    attempts = {"a": 0, "b": 0}

    def lock_in_order(first: str, second: str) -> None:
        def write(tx: PostgresTx) -> None:
            attempts[first] += 1
            tx.run("UPDATE meta SET value = value || '1' WHERE key = ?", (first,))
            if attempts[first] == 1:
                both_locked_once.wait()
            tx.run("UPDATE meta SET value = value || '1' WHERE key = ?", (second,))

        database.write_now(write)

    threads = [
        threading.Thread(target=lock_in_order, args=("a", "b")),
        threading.Thread(target=lock_in_order, args=("b", "a")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # One transaction is the deadlock victim and runs again; on a busy machine its retry can
    # deadlock once more, so only "at least one retry" is certain.
    assert sum(attempts.values()) >= 3, attempts
    values = database.write_now(lambda tx: tx.all("SELECT value FROM meta WHERE key IN ('a', 'b')"))
    assert sorted(values) == [("011",), ("011",)]


async def test_conflict_error_after_last_retry(postgres_url: str) -> None:
    store = PostgresDatabase(postgres_url, pool_size=1, conflict_retries=2)
    calls = 0

    def always_conflicts(tx: PostgresTx) -> None:
        nonlocal calls
        calls += 1
        raise ConflictError("simulated")

    with pytest.raises(ConflictError):
        await store.write(always_conflicts)
    await store.close()
    assert calls == 3


async def test_concurrent_claims_are_disjoint(
    database: PostgresDatabase, connections: list[psycopg.Connection[tuple[object, ...]]]
) -> None:
    def enqueue(tx: PostgresTx) -> None:
        for n in range(6):
            fifo.enqueue(tx, request("deposit.fifo", f"r{n}", f"user{n}"))

    await database.write(enqueue)
    first, second = (PostgresTx(connection) for connection in connections)

    claimed_first = fifo.claim(first, "deposit.fifo", 4)
    claimed_second = fifo.claim(second, "deposit.fifo", 4)

    ids_first = {r.req_id for r in claimed_first}
    ids_second = {r.req_id for r in claimed_second}
    assert len(ids_first) == 4
    assert ids_second == {f"r{n}" for n in range(6)} - ids_first


async def test_next_request_waits_for_the_earlier_one(
    database: PostgresDatabase, connections: list[psycopg.Connection[tuple[object, ...]]]
) -> None:
    def enqueue(tx: PostgresTx) -> None:
        fifo.enqueue(tx, request("deposit.fifo", "early", "alice"))
        fifo.enqueue(tx, request("post.fifo", "late", "alice"))

    await database.write(enqueue)
    worker, other = connections
    tx = PostgresTx(worker)
    [early] = fifo.claim(tx, "deposit.fifo", 10)

    assert fifo.claim(PostgresTx(other), "post.fifo", 10) == []
    fifo.complete(tx, early, b'{"ok":true}', 2)
    tx.flush()
    assert fifo.claim(PostgresTx(other), "post.fifo", 10) == []
    worker.commit()
    other.rollback()
    assert [r.req_id for r in fifo.claim(PostgresTx(other), "post.fifo", 10)] == ["late"]


async def test_second_completion_changes_nothing(
    database: PostgresDatabase, connections: list[psycopg.Connection[tuple[object, ...]]]
) -> None:
    await database.write(lambda tx: fifo.enqueue(tx, request("deposit.fifo", "r1", "bob")))
    first, second = connections
    [claimed] = fifo.claim(PostgresTx(first), "deposit.fifo", 1)
    first_tx = PostgresTx(first)
    fifo.complete(first_tx, claimed, b'{"ok":true}', 2)
    first_tx.flush()
    first.commit()

    second_tx = PostgresTx(second)
    fifo.complete(second_tx, claimed, b'{"ok":false}', 3)
    with pytest.raises(RowCountMismatch):
        second_tx.flush()
    second.commit()
    statuses = await database.read(lambda tx: tx.all("SELECT body FROM statuses"))
    assert statuses == [('{"ok":true}',)]


async def test_killed_worker_leaves_nothing(
    database: PostgresDatabase, connections: list[psycopg.Connection[tuple[object, ...]]]
) -> None:
    await database.write(lambda tx: fifo.enqueue(tx, request("deposit.fifo", "r1", "carol")))
    doomed, survivor = connections
    tx = PostgresTx(doomed)
    [claimed] = fifo.claim(tx, "deposit.fifo", 1)
    tx.run(
        "INSERT INTO ledger (req_id, at, kind, uid, deposit_delta) VALUES ('r1', 1, 'x', 'c', 5)"
    )
    fifo.complete(tx, claimed, b'{"ok":true}', 2)
    tx.flush()
    pid = doomed.info.backend_pid
    survivor.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    survivor.commit()

    [again] = fifo.claim(PostgresTx(survivor), "deposit.fifo", 1)
    assert again.req_id == "r1"
    ledger = await database.read(lambda tx: tx.all("SELECT * FROM ledger"))
    statuses = await database.read(lambda tx: tx.all("SELECT * FROM statuses"))
    assert ledger == []
    assert statuses == []


async def test_migrations_leave_nothing_pending(postgres_url: str) -> None:
    store = PostgresDatabase(postgres_url, pool_size=1)
    assert migrate.pending(store) == ["0001_initial.sql"]
    assert migrate.upgrade(store) == ["0001_initial.sql"]
    assert migrate.pending(store) == []
    assert migrate.upgrade(store) == []
    await store.close()


async def test_postgres_url_opens_adapter(postgres_url: str) -> None:
    store = open_database(postgres_url, Settings(pg_pool_size=2))
    assert isinstance(store, PostgresDatabase)
    assert await store.read(lambda tx: tx.one("SELECT 1")) == (1,)
    await store.close()


async def test_locked_product_is_busy_until_sale_commits(
    database: PostgresDatabase, connections: list[psycopg.Connection[tuple[object, ...]]]
) -> None:
    product = Product("p1", "seller_sue", "Cola", 35, 10)
    await database.write(lambda tx: repository.insert_product(tx, product, 1))
    seller, second = connections
    with seller.pipeline() as selling:
        first_tx = PostgresTx(seller, selling)
        locked = repository.get_product(first_tx, "p1", for_update=True)
        assert locked is not None
        repository.replace_product(first_tx, locked, Product("p1", "seller_sue", "Cola", 35, 9))
        first_tx.flush()

        # A second sale does not wait for the lock: RowBusy is raised at once, and its
        # transaction stays usable, because a skipped row is no SQL error.
        with second.pipeline() as waiting:
            second_tx = PostgresTx(second, waiting)
            with pytest.raises(RowBusy):
                repository.get_product(second_tx, "p1", for_update=True)
            with pytest.raises(RowBusy):
                repository.user_by_token_and_product(second_tx, "buyer_bob", "h", 1, "p1")
            assert second_tx.one("SELECT 1") == (1,)
            assert repository.get_product(second_tx, "absent", for_update=True) is None
        second.rollback()

        seller.commit()
    with second.pipeline() as after_sale:
        after = repository.get_product(PostgresTx(second, after_sale), "p1", for_update=True)
    assert after is not None
    assert after.amount == 9
