"""The two workers as sets of lanes, runnable as asyncio tasks in any process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from vending.queues.bus import Bus
from vending.queues.names import AUTH, DEPOSIT, POST
from vending.settings import Settings
from vending.store.database import Database
from vending.workers import gatekeeper, stock_handler
from vending.workers.context import FailureHook, Handler
from vending.workers.runner import Lane

log = logging.getLogger(__name__)

WORKERS = ("gatekeeper", "stock-handler")


def lanes_of(name: str, database: Database, bus: Bus, settings: Settings) -> list[Lane]:
    """Return the lanes of worker `name`: one per queue.

    The gatekeeper serves auth.fifo and deposit.fifo on two lanes, so a batch of sign-ins and a
    batch of deposits do not queue behind each other in one loop. On SQLite both still share the
    one writer thread.
    """

    def lane(queue: str, handlers: Mapping[str, Handler], hooks: Mapping[str, FailureHook]) -> Lane:
        return Lane(
            queue,
            handlers,
            hooks,
            database,
            bus,
            batch_size=settings.batch_size,
            max_attempts=settings.max_attempts,
        )

    if name == "gatekeeper":
        return [
            lane(AUTH, gatekeeper.HANDLERS, gatekeeper.FAILURE_HOOKS),
            lane(DEPOSIT, gatekeeper.HANDLERS, gatekeeper.FAILURE_HOOKS),
        ]
    if name == "stock-handler":
        return [lane(POST, stock_handler.HANDLERS, {})]
    raise ValueError(f"unknown worker {name!r}: expected one of {', '.join(WORKERS)}")


class WorkerSet:
    """Runs lanes as tasks; `stop` lets each finish the batch in hand."""

    def __init__(self, lanes: list[Lane]) -> None:
        self._lanes = lanes
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(lane.run(), name=lane.queue) for lane in self._lanes]

    async def stop(self) -> None:
        for lane in self._lanes:
            lane.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not any(task.done() for task in self._tasks)
