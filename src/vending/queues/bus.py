"""Notifications between the gateway and the workers.

Two kinds travel: "requests were enqueued on these queues" (wakes workers) and "these requests
have a status" (reaches the gateway that serves the session). The embedded profile delivers them
in memory; a scale-out bus delivers the same events across processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class StatusEvent:
    """A request's stored status. `body` is the status JSON; `effects` describe what changed."""

    req_id: str
    okey: str
    wsess_id: str | None
    kind: str
    body: bytes
    effects: list[dict[str, Any]] = field(default_factory=list)


StatusListener = Callable[[list[StatusEvent]], None]
ResyncListener = Callable[[], None]


class Bus(Protocol):
    def queue_event(self, queue: str) -> asyncio.Event:
        """Return the event that is set whenever `queue` may have new claimable requests."""
        ...

    def wake(self, queues: Iterable[str]) -> None:
        """Wake the workers of `queues`, in this process and (scale-out) in every other."""
        ...

    def add_status_listener(self, listener: StatusListener) -> None: ...

    def add_resync_listener(self, listener: ResyncListener) -> None:
        """Call `listener` whenever events may have been missed, so that caches are dropped."""
        ...

    def publish(self, events: list[StatusEvent]) -> None:
        """Deliver statuses to every listener (every gateway)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """The embedded profile's bus: asyncio events and direct calls in one process."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._listeners: list[StatusListener] = []

    def queue_event(self, queue: str) -> asyncio.Event:
        return self._events.setdefault(queue, asyncio.Event())

    def wake(self, queues: Iterable[str]) -> None:
        for queue in queues:
            self.queue_event(queue).set()

    def add_status_listener(self, listener: StatusListener) -> None:
        self._listeners.append(listener)

    def add_resync_listener(self, listener: ResyncListener) -> None:
        return None  # Events in one process are never missed.

    def publish(self, events: list[StatusEvent]) -> None:
        for listener in self._listeners:
            listener(events)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
