"""A worker lane on PostgreSQL: a lock conflict re-runs the batch and is not a failed attempt."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from vending.domain import commands as c
from vending.domain.products import Product
from vending.domain.users import Role
from vending.queues import fifo
from vending.queues.bus import LocalBus
from vending.queues.names import POST
from vending.store import migrate, repository
from vending.store.audit import audit
from vending.store.database import ConflictError, Tx
from vending.store.postgres import PostgresDatabase
from vending.store.repository import LedgerEntry
from vending.workers import stock_handler
from vending.workers.context import Context
from vending.workers.runner import Lane

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    store = PostgresDatabase(postgres_url, pool_size=2)
    migrate.upgrade(store)
    yield store
    await store.close()


async def test_conflict_reruns_batch_without_attempt(
    database: PostgresDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def deposit(ctx: Context, command: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConflictError("deadlock detected")
        return {"coin": command.coin}

    request = fifo.NewRequest(
        "deposit.fifo",
        "r1",
        "buyer_ann",
        "deposit",
        b'{"uid":"buyer_ann","token_hash":"","coin":5}',
        None,
        1,
    )
    await database.write(lambda tx: fifo.enqueue(tx, request))
    lane = Lane("deposit.fifo", {"deposit": deposit}, {}, database, LocalBus())

    with caplog.at_level(logging.WARNING):
        task = asyncio.create_task(lane.run())
        status = None
        for _ in range(200):
            status = await database.read(lambda tx: fifo.get_status(tx, "r1"))
            if status is not None:
                break
            await asyncio.sleep(0.01)
        lane.stop()
        await task

    assert status is not None
    assert status.body == b'{"ok":true,"result":{"coin":5}}'
    assert calls == 2
    assert [r.message for r in caplog.records if "attempt" in r.message] == []
    dead = await database.read(lambda tx: tx.all("SELECT * FROM dead_letters"))
    assert dead == []


async def test_two_lanes_sell_one_product_exactly(postgres_url: str) -> None:
    """Two stock-handler lanes, each with a pool of its own, sell one product to 40 buyers.

    A lane that finds the product locked by the other skips the request and applies it in a
    later batch, so every request gets one status and money and stock match the ledger."""
    stores = [PostgresDatabase(postgres_url, pool_size=2) for _ in range(2)]
    migrate.upgrade(stores[0])
    buyers = [f"buyer_{n:02d}" for n in range(40)]

    def setup(tx: Tx) -> None:
        repository.insert_product(tx, Product("p1", "seller_sue", "Cola", 35, 20), 1)
        stocked = LedgerEntry("stock_added", "seller_sue", "p1", stock_delta=20)
        repository.append_ledger(tx, "setup", 1, stocked)
        for uid in buyers:
            repository.insert_user(tx, uid, uid, Role.BUYER, "hash", 1)
            repository.change_deposit(tx, uid, 0, 100)
            repository.append_ledger(tx, "setup", 1, LedgerEntry("deposit", uid, deposit_delta=100))
            repository.insert_token(tx, f"token-{uid}", uid, 1, 2**62)
            buy = c.Buy(uid, f"token-{uid}", "p1", 1)
            payload = msgspec.json.encode(buy)
            fifo.enqueue(tx, fifo.NewRequest(POST, f"r-{uid}", uid, "buy", payload, None, 1))

    await stores[0].write(setup)
    bus = LocalBus()
    statuses: dict[str, bytes] = {}
    bus.add_status_listener(lambda events: statuses.update((e.req_id, e.body) for e in events))
    lanes = [Lane(POST, stock_handler.HANDLERS, {}, store, bus, batch_size=8) for store in stores]
    tasks = [asyncio.create_task(lane.run()) for lane in lanes]
    try:
        async with asyncio.timeout(30):
            while len(statuses) < len(buyers):
                await asyncio.sleep(0.05)
    finally:
        for lane in lanes:
            lane.stop()
        await asyncio.gather(*tasks)

    bodies = [json.loads(body) for body in statuses.values()]
    assert sum(body["ok"] for body in bodies) == 20
    assert {body.get("code") for body in bodies if not body["ok"]} == {"EMPTY_STOCK"}
    report = await stores[0].read(audit)
    assert report.clean, report
    product = await stores[0].read(lambda tx: repository.get_product(tx, "p1"))
    assert product is not None
    assert product.amount == 0
    left = await stores[0].read(lambda tx: tx.one("SELECT SUM(deposit) FROM users"))
    assert left == (20 * 100,)
    stored = await stores[0].read(lambda tx: tx.one("SELECT COUNT(*) FROM statuses"))
    assert stored == (len(buyers),)
    dead = await stores[0].read(lambda tx: tx.all("SELECT req_id, error FROM dead_letters"))
    assert dead == []
    for store in stores:
        await store.close()
