"""A worker lane on PostgreSQL: a lock conflict re-runs the batch and is not a failed attempt."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from vending.queues import fifo
from vending.queues.bus import LocalBus
from vending.store import migrate
from vending.store.database import ConflictError
from vending.store.postgres import PostgresDatabase
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
