"""Idempotency keys and the producer's guard, on a real SQLite database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from vending.queues import fifo
from vending.queues.bus import LocalBus
from vending.queues.producer import Guard, Producer
from vending.store import idempotency, migrate
from vending.store.database import Tx
from vending.store.sqlite import SqliteDatabase

TTL_MS = 1_000


@pytest.fixture
def database(tmp_path: Path) -> Iterator[SqliteDatabase]:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'vending.db'}")
    migrate.upgrade(db)
    yield db
    asyncio.run(db.close())


def test_claim_binds_once(database: SqliteDatabase) -> None:
    assert database.write_now(lambda tx: idempotency.claim(tx, "s", "f1", "r1", 100, TTL_MS))
    assert not database.write_now(lambda tx: idempotency.claim(tx, "s", "f2", "r2", 200, TTL_MS))
    record = database.write_now(lambda tx: idempotency.get(tx, "s"))
    assert record == idempotency.KeyRecord(fingerprint="f1", req_id="r1")


def test_expired_claim_is_replaced(database: SqliteDatabase) -> None:
    database.write_now(lambda tx: idempotency.claim(tx, "s", "f1", "r1", 100, TTL_MS))
    later = 100 + TTL_MS + 1
    assert database.write_now(lambda tx: idempotency.claim(tx, "s", "f2", "r2", later, TTL_MS))
    record = database.write_now(lambda tx: idempotency.get(tx, "s"))
    assert record == idempotency.KeyRecord(fingerprint="f2", req_id="r2")


def _request(req_id: str) -> fifo.NewRequest:
    return fifo.NewRequest("deposit.fifo", req_id, "buyer_bob", "reset", b"{}", None, 1)


async def test_guard_leaves_request_out(database: SqliteDatabase) -> None:
    producer = Producer(database, LocalBus())

    def bind(req_id: str) -> Guard:
        def guard(tx: Tx) -> bool:
            return idempotency.claim(tx, "one-key", "f", req_id, 1, TTL_MS)

        return guard

    results = await asyncio.gather(
        producer.submit(_request("r1"), guard=bind("r1")),
        producer.submit(_request("r2"), guard=bind("r2")),
        producer.submit(_request("r3")),
    )
    assert results == [True, False, True]
    assert await database.read(lambda tx: fifo.is_queued(tx, "r1"))
    assert not await database.read(lambda tx: fifo.is_queued(tx, "r2"))
    assert await database.read(lambda tx: fifo.is_queued(tx, "r3"))
    owner = await database.read(lambda tx: fifo.queued_owner(tx, "r3"))
    assert owner == "buyer_bob"

    # The skipped request took no sequence number, so the account's order has no gap.
    sequence = await database.read(lambda tx: tx.all("SELECT req_id, seq FROM queue ORDER BY seq"))
    assert sequence == [("r1", 1), ("r3", 2)]
