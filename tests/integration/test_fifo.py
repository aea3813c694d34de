"""The durable queues on real SQLite: sequence numbers, per-account order, at-most-once."""

from __future__ import annotations

from vending.queues import fifo
from vending.queues.names import AUTH, DEPOSIT, POST
from vending.store.database import RowCountMismatch, Tx
from vending.store.sqlite import SqliteDatabase


def new_request(queue: str, req_id: str, okey: str, kind: str = "deposit") -> fifo.NewRequest:
    return fifo.NewRequest(
        queue=queue,
        req_id=req_id,
        okey=okey,
        kind=kind,
        payload=b"{}",
        wsess_id="w1",
        accepted_at=1,
    )


def enqueue_all(database: SqliteDatabase, requests: list[fifo.NewRequest]) -> list[int]:
    """Enqueue `requests` in one transaction; return the sequence number each one got."""

    def run(tx: Tx) -> list[int]:
        for request in requests:
            fifo.enqueue(tx, request)
        rows = tx.all("SELECT seq FROM queue ORDER BY id")
        return [int(row[0]) for row in rows[-len(requests) :]]

    return database.write_now(run)


def claim(database: SqliteDatabase, queue: str, limit: int = 10) -> list[fifo.QueuedRequest]:
    return database.write_now(lambda tx: fifo.claim(tx, queue, limit))


def complete(database: SqliteDatabase, request: fifo.QueuedRequest, body: bytes = b"{}") -> bool:
    """Complete `request` in a transaction of its own; False when `complete` refused it."""
    try:
        database.write_now(lambda tx: fifo.complete(tx, request, body, 2))
    except RowCountMismatch:
        return False
    return True


def count(database: SqliteDatabase, sql: str) -> int:
    def run(tx: Tx) -> int:
        row = tx.one(sql)
        assert row is not None
        return int(row[0])

    return database.write_now(run)


async def test_enqueue_numbers_each_account(database: SqliteDatabase) -> None:
    seqs = enqueue_all(
        database,
        [
            new_request(DEPOSIT, "r1", "buyer_a"),
            new_request(POST, "r2", "buyer_a", "buy"),
            new_request(DEPOSIT, "r3", "buyer_b"),
            new_request(AUTH, "r4", "buyer_a", "logout"),
            new_request(DEPOSIT, "r5", "buyer_b"),
        ],
    )
    assert seqs == [1, 2, 1, 3, 2]


async def test_sequence_survives_separate_transactions(database: SqliteDatabase) -> None:
    assert enqueue_all(database, [new_request(DEPOSIT, "r1", "buyer_a")]) == [1]
    assert enqueue_all(database, [new_request(DEPOSIT, "r2", "buyer_a")]) == [2]


async def test_claim_follows_order_across_queues(database: SqliteDatabase) -> None:
    enqueue_all(
        database,
        [
            new_request(DEPOSIT, "d1", "buyer_a"),
            new_request(POST, "p2", "buyer_a", "buy"),
            new_request(DEPOSIT, "d3", "buyer_a"),
            new_request(POST, "p1", "buyer_b", "buy"),
        ],
    )

    # buyer_a's buy waits for its deposit; buyer_b's buy is free to go.
    assert [r.req_id for r in claim(database, POST)] == ["p1"]
    first = claim(database, DEPOSIT)
    assert [r.req_id for r in first] == ["d1"]

    assert complete(database, first[0])
    assert claim(database, DEPOSIT) == []
    after_deposit = claim(database, POST)
    assert [r.req_id for r in after_deposit] == ["p2", "p1"]

    assert complete(database, after_deposit[0])
    assert [r.req_id for r in claim(database, DEPOSIT)] == ["d3"]


async def test_claim_skips_and_limits(database: SqliteDatabase) -> None:
    enqueue_all(database, [new_request(DEPOSIT, f"r{i}", f"buyer_{i}") for i in range(5)])
    everything = claim(database, DEPOSIT)
    assert len(everything) == 5
    assert len(claim(database, DEPOSIT, limit=2)) == 2

    skip = {everything[0].id, everything[1].id}
    rest = database.write_now(lambda tx: fifo.claim(tx, DEPOSIT, 10, skip))
    assert [r.req_id for r in rest] == ["r2", "r3", "r4"]


async def test_complete_is_at_most_once(database: SqliteDatabase) -> None:
    enqueue_all(
        database, [new_request(DEPOSIT, "r1", "buyer_a"), new_request(DEPOSIT, "r2", "buyer_a")]
    )
    (request,) = claim(database, DEPOSIT)

    assert complete(database, request, b'{"ok": true}')
    assert not complete(database, request, b'{"ok": false}')

    assert count(database, "SELECT COUNT(*) FROM statuses WHERE req_id = 'r1'") == 1
    stored = database.write_now(lambda tx: fifo.get_status(tx, "r1"))
    assert stored is not None
    assert stored.body == b'{"ok": true}'
    assert count(database, "SELECT done_seq FROM order_keys WHERE okey = 'buyer_a'") == 1
    assert [r.req_id for r in claim(database, DEPOSIT)] == ["r2"]


async def test_complete_out_of_order_changes_nothing(database: SqliteDatabase) -> None:
    enqueue_all(
        database, [new_request(DEPOSIT, "r1", "buyer_a"), new_request(DEPOSIT, "r2", "buyer_a")]
    )
    second = database.write_now(
        lambda tx: fifo.QueuedRequest(2, DEPOSIT, "r2", "buyer_a", 2, "deposit", b"{}", None, 1, 0)
    )
    assert not complete(database, second)
    assert count(database, "SELECT COUNT(*) FROM statuses") == 0
    assert count(database, "SELECT COUNT(*) FROM queue") == 2


async def test_backlog_and_is_queued(database: SqliteDatabase) -> None:
    enqueue_all(
        database,
        [
            new_request(DEPOSIT, "r1", "buyer_a"),
            new_request(POST, "r2", "buyer_b", "buy"),
            new_request(POST, "r3", "buyer_c", "buy"),
        ],
    )
    assert database.write_now(fifo.backlog) == {DEPOSIT: 1, POST: 2}
    assert database.write_now(lambda tx: fifo.is_queued(tx, "r1"))
    (request,) = claim(database, DEPOSIT)
    complete(database, request)
    assert not database.write_now(lambda tx: fifo.is_queued(tx, "r1"))
