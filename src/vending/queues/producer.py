"""The gateway's side of the queues: commit requests in groups and wake the workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vending.queues import fifo
from vending.queues.bus import Bus
from vending.store.database import Database, Tx

log = logging.getLogger(__name__)

Extra = Callable[[Tx], None]
"""More writes to commit in the same transaction as a request (session bookkeeping)."""


class Producer:
    """Commits requests to their queues, many per transaction (group commit).

    While one transaction is being written, new requests gather; the next transaction takes
    them all. `submit` returns only after the request's transaction has committed, so an
    accepted request is durable.
    """

    def __init__(self, database: Database, bus: Bus) -> None:
        self._database = database
        self._bus = bus
        self._pending: list[tuple[fifo.NewRequest, Extra | None, asyncio.Future[None]]] = []
        self._flushing = False

    async def submit(self, request: fifo.NewRequest, extra: Extra | None = None) -> None:
        """Commit `request` (and `extra`) and wake the queue's workers."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((request, extra, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._database.write(lambda tx, b=batch: _write(tx, b))  # type: ignore[misc]
                except Exception as exc:
                    log.exception("enqueue of %d requests failed", len(batch))
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self._bus.wake({request.queue for request, _, _ in batch})
                for _, _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._flushing = False


def _write(tx: Tx, batch: list[tuple[fifo.NewRequest, Extra | None, asyncio.Future[None]]]) -> None:
    # Enqueue locks each key's `order_keys` row. Taking the locks in key order keeps two
    # gateways from deadlocking; the sort is stable, so one key's requests keep their order.
    for request, extra, _ in sorted(batch, key=lambda item: item[0].okey):
        fifo.enqueue(tx, request)
        if extra is not None:
            extra(tx)
