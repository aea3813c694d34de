"""A gateway finds a status whose notification never arrived by reading the database."""

from __future__ import annotations

import asyncio

from vending.domain.commands import Deposit
from vending.gateway.hub import RequestHub
from vending.gateway.tokens import TokenCache
from vending.queues import fifo
from vending.queues.bus import LocalBus
from vending.queues.producer import Producer
from vending.settings import Settings
from vending.store import migrate
from vending.store.connect import open_database
from vending.store.database import Tx


async def test_recheck_finds_unannounced_status(settings: Settings) -> None:
    database = open_database(settings.database, settings)
    migrate.upgrade(database)
    bus = LocalBus()
    hub = RequestHub(database, Producer(database, bus), bus, TokenCache())
    req_id = await hub.submit(Deposit("buyer_ann", "", 5), "buyer_ann")

    def apply_silently(tx: Tx) -> None:
        [request] = fifo.claim(tx, "deposit.fifo", 1)
        fifo.complete(tx, request, b'{"ok":true,"result":{"coin":5}}', 1)

    await database.write(apply_silently)
    waiting = asyncio.create_task(hub.wait(req_id, 5.0))

    assert await hub.recheck_pending(older_than=60.0) == 0
    assert await hub.recheck_pending(older_than=0.0) == 1
    status = await waiting
    await database.close()

    assert status is not None
    assert status.ok
    assert status.result == {"coin": 5}
    assert not hub.is_pending(req_id)
