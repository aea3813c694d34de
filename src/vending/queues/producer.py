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

Guard = Callable[[Tx], bool]
"""A check made in the enqueue transaction before the request is written; False leaves the
request out. It must not raise, because the whole group of requests shares the transaction."""

_Item = tuple[fifo.NewRequest, Extra | None, Guard | None, asyncio.Future[bool]]


class Producer:
    """Commits requests to their queues, many per transaction (group commit).

    While one transaction is being written, new requests gather; the next transaction takes
    them all. `submit` returns only after the request's transaction has committed, so an
    accepted request is durable.
    """

    def __init__(self, database: Database, bus: Bus) -> None:
        self._database = database
        self._bus = bus
        self._pending: list[_Item] = []
        self._flushing = False

    async def submit(
        self, request: fifo.NewRequest, extra: Extra | None = None, guard: Guard | None = None
    ) -> bool:
        """Commit `request` (and `extra`) and wake the queue's workers.

        Return False, having written nothing for this request, when `guard` returned False.
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((request, extra, guard, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    written = await self._database.write(lambda tx, b=batch: _write(tx, b))  # type: ignore[misc]
                except Exception as exc:
                    log.exception("enqueue of %d requests failed", len(batch))
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self._bus.wake({request.queue for request, *_ in batch})
                for (*_, future), was_written in zip(batch, written, strict=True):
                    if not future.done():
                        future.set_result(was_written)
        finally:
            self._flushing = False


def _write(tx: Tx, batch: list[_Item]) -> list[bool]:
    # Enqueue locks each key's `order_keys` row. Taking the locks in key order keeps two
    # gateways from deadlocking; the sort is stable, so one key's requests keep their order.
    written = [False] * len(batch)
    for index in sorted(range(len(batch)), key=lambda i: batch[i][0].okey):
        request, extra, guard, _ = batch[index]
        if guard is not None and not guard(tx):
            continue
        fifo.enqueue(tx, request)
        if extra is not None:
            extra(tx)
        written[index] = True
    return written
