"""A worker lane on real SQLite: retries, INTERNAL_ERROR and dead letters."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import msgspec
import pytest

from vending.domain import commands as c
from vending.queues import fifo
from vending.queues.bus import LocalBus, StatusEvent
from vending.queues.names import DEPOSIT
from vending.store.sqlite import SqliteDatabase
from vending.workers.context import Context
from vending.workers.runner import Lane

POISON_COIN = 13


class FlakyDeposit:
    """A deposit handler that raises an unexpected error for one coin value."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, ctx: Context, cmd: c.Deposit) -> dict[str, Any]:
        self.calls.append(cmd.coin)
        if cmd.coin == POISON_COIN:
            raise RuntimeError("disk on fire")
        return {"coin": cmd.coin, "deposit": cmd.coin}


def deposit_request(req_id: str, coin: int) -> fifo.NewRequest:
    return fifo.NewRequest(
        queue=DEPOSIT,
        req_id=req_id,
        okey="buyer_a",
        kind="deposit",
        payload=msgspec.json.encode(c.Deposit("buyer_a", "hash", coin)),
        wsess_id="w1",
        accepted_at=1,
    )


async def run_until(lane: Lane, statuses: dict[str, StatusEvent], req_ids: set[str]) -> None:
    task = asyncio.create_task(lane.run())
    try:
        async with asyncio.timeout(5):
            while not req_ids <= statuses.keys():
                await asyncio.sleep(0.01)
    finally:
        lane.stop()
        await task


async def test_poison_request_is_set_aside(
    database: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    bus = LocalBus()
    statuses: dict[str, StatusEvent] = {}
    bus.add_status_listener(lambda events: statuses.update((e.req_id, e) for e in events))
    handler = FlakyDeposit()
    lane = Lane(DEPOSIT, {"deposit": handler}, {}, database, bus, max_attempts=5)
    database.write_now(
        lambda tx: [
            fifo.enqueue(tx, r) for r in (deposit_request("bad", 13), deposit_request("next", 5))
        ]
    )

    with caplog.at_level(logging.WARNING, logger="vending.workers.runner"):
        await run_until(lane, statuses, {"bad", "next"})

    assert handler.calls == [POISON_COIN] * 5 + [5]
    bad = json.loads(statuses["bad"].body)
    assert bad["ok"] is False
    assert bad["code"] == "INTERNAL_ERROR"
    assert "disk on fire" not in json.dumps(bad)
    assert json.loads(statuses["next"].body) == {"ok": True, "result": {"coin": 5, "deposit": 5}}

    dead = database.write_now(lambda tx: tx.all("SELECT req_id, attempts, error FROM dead_letters"))
    assert dead == [("bad", 5, "RuntimeError: disk on fire")]
    assert database.write_now(lambda tx: tx.all("SELECT req_id FROM queue")) == []
    stored = database.write_now(lambda tx: fifo.get_status(tx, "bad"))
    assert stored is not None
    assert json.loads(stored.body)["code"] == "INTERNAL_ERROR"

    retries = [r for r in caplog.records if "failed, attempt" in r.getMessage()]
    assert len(retries) == 5
    assert all("bad" in r.getMessage() for r in retries)
    assert any("set aside" in r.getMessage() for r in caplog.records)


async def test_failed_attempt_rolls_back_its_writes(database: SqliteDatabase) -> None:
    bus = LocalBus()
    statuses: dict[str, StatusEvent] = {}
    bus.add_status_listener(lambda events: statuses.update((e.req_id, e) for e in events))

    def half_applied(ctx: Context, cmd: c.Deposit) -> dict[str, Any]:
        ctx.tx.run(
            "INSERT INTO ledger (req_id, at, kind, uid, deposit_delta) "
            "VALUES (?, 1, 'deposit', ?, 5)",
            (ctx.req_id, cmd.uid),
        )
        raise RuntimeError("crash after a write")

    lane = Lane(DEPOSIT, {"deposit": half_applied}, {}, database, bus, max_attempts=3)
    database.write_now(lambda tx: fifo.enqueue(tx, deposit_request("r1", 5)))

    await run_until(lane, statuses, {"r1"})

    assert database.write_now(lambda tx: tx.all("SELECT * FROM ledger")) == []
    assert database.write_now(lambda tx: tx.one("SELECT attempts FROM dead_letters")) == (3,)
