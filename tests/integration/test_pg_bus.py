"""The LISTEN/NOTIFY bus between processes, as two buses on one PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest

from vending.queues.bus import StatusEvent
from vending.queues.pg_bus import MAX_PAYLOAD, PgBus, pack_statuses
from vending.store import migrate
from vending.store.postgres import PostgresDatabase

pytestmark = pytest.mark.postgres


def event(req_id: str, effects: list[dict[str, object]] | None = None) -> StatusEvent:
    return StatusEvent(req_id, "buyer_ann", None, "deposit", b'{"ok":true}', effects or [])


def test_pack_splits_under_payload_limit() -> None:
    events = [event(f"r{n}", [{"type": "balance", "deposit": n}]) for n in range(300)]

    payloads = pack_statuses("origin", events)

    assert len(payloads) > 1
    assert all(len(p.encode()) < MAX_PAYLOAD for p in payloads)
    unpacked = [msgspec.json.decode(p)["events"] for p in payloads]
    assert [e["req_id"] for chunk in unpacked for e in chunk] == [f"r{n}" for n in range(300)]


def test_pack_sends_oversized_event_by_id() -> None:
    hashes = ["f" * 64] * 200
    payloads = pack_statuses("origin", [event("big", [{"type": "tokens_ended", "hashes": hashes}])])

    assert [msgspec.json.decode(p) for p in payloads] == [
        {"origin": "origin", "events": [], "refetch": ["big"]}
    ]


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    store = PostgresDatabase(postgres_url, pool_size=2)
    migrate.upgrade(store)
    yield store
    await store.close()


@pytest.fixture
async def buses(database: PostgresDatabase) -> AsyncIterator[tuple[PgBus, PgBus]]:
    """A worker's bus (listens on post.fifo) and a gateway's bus (listens for statuses)."""
    worker = PgBus(database.url, database, poll_interval=60)
    gateway = PgBus(database.url, database, poll_interval=60)
    yield worker, gateway
    await worker.close()
    await gateway.close()


async def test_wake_reaches_other_process(buses: tuple[PgBus, PgBus]) -> None:
    worker, gateway = buses
    post = worker.queue_event("post.fifo")
    await worker.start()
    await gateway.start()
    await asyncio.sleep(0.2)
    post.clear()

    gateway.wake(["post.fifo"])

    await asyncio.wait_for(post.wait(), 2.0)


async def test_statuses_reach_other_process_once(buses: tuple[PgBus, PgBus]) -> None:
    worker, gateway = buses
    heard_by_gateway: list[StatusEvent] = []
    heard_by_worker: list[StatusEvent] = []
    gateway.add_status_listener(heard_by_gateway.extend)
    worker.add_status_listener(heard_by_worker.extend)
    await worker.start()
    await gateway.start()
    await asyncio.sleep(0.2)

    ended = {"type": "tokens_ended", "hashes": ["ab"], "wsess_ids": []}
    worker.publish([event("r1", [ended]), event("r2")])

    for _ in range(100):
        if len(heard_by_gateway) == 2:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert [e.req_id for e in heard_by_gateway] == ["r1", "r2"]
    assert heard_by_gateway[0].effects == [ended]
    assert heard_by_gateway[0].body == b'{"ok":true}'
    assert [e.req_id for e in heard_by_worker] == ["r1", "r2"]


async def test_oversized_status_is_read_and_caches_dropped(
    database: PostgresDatabase, buses: tuple[PgBus, PgBus]
) -> None:
    worker, gateway = buses
    heard: list[StatusEvent] = []
    resyncs: list[bool] = []
    gateway.add_status_listener(heard.extend)
    gateway.add_resync_listener(lambda: resyncs.append(True))
    await worker.start()
    await gateway.start()
    await asyncio.sleep(0.2)
    await database.write(
        lambda tx: tx.run(
            "INSERT INTO statuses (req_id, okey, wsess_id, kind, body, created_at) "
            "VALUES ('big', 'seller_sue', NULL, 'logout_all', '{\"ok\":true}', 1)"
        )
    )

    hashes = ["e" * 64] * 200
    worker.publish([event("big", [{"type": "tokens_ended", "hashes": hashes}])])

    for _ in range(100):
        if heard:
            break
        await asyncio.sleep(0.02)
    assert [(e.req_id, e.kind, e.body) for e in heard] == [("big", "logout_all", b'{"ok":true}')]
    assert resyncs == [True]
