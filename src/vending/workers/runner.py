"""The worker loop shared by every worker: claim, apply in one transaction, publish statuses.

A lane serves one queue. It sleeps until the bus signals that its queue may have work. Then it
claims the requests that are next in their account's order and applies up to `batch_size` of
them in one transaction, each inside a savepoint, so one request never spans two transactions
and a failed one never half-applies. It commits and publishes their statuses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from vending.domain.commands import COMMAND_TYPES
from vending.domain.errors import Code, DomainError
from vending.queues import fifo
from vending.queues.bus import Bus, StatusEvent
from vending.queues.names import ALL
from vending.store import sessions
from vending.store.database import ConflictError, Database, RowBusy, Tx
from vending.workers import status
from vending.workers.context import Context, FailureHook, Handler

log = logging.getLogger(__name__)

_BUSY_BACKOFF = 0.005
"""Seconds a lane waits before claiming again when every request it tried was busy."""

_decoders = {kind: msgspec.json.Decoder(cls) for kind, cls in COMMAND_TYPES.items()}


@dataclass(slots=True)
class BatchResult:
    events: list[StatusEvent] = field(default_factory=list)
    retry: bool = False


class Lane:
    """Applies the requests of one queue with the given handlers."""

    def __init__(
        self,
        queue: str,
        handlers: Mapping[str, Handler],
        failure_hooks: Mapping[str, FailureHook],
        database: Database,
        bus: Bus,
        batch_size: int = 32,
        max_attempts: int = 5,
    ) -> None:
        self.queue = queue
        self._handlers = handlers
        self._failure_hooks = failure_hooks
        self._database = database
        self._bus = bus
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._stopping = False
        self._wake = bus.queue_event(queue)

    async def run(self) -> None:
        """Apply requests until `stop` is called; a batch in hand is always finished."""
        log.info("worker lane %s started", self.queue)
        self._wake.set()
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            started = time.perf_counter()
            try:
                result = await self._database.write(self._apply_batch)
            except Exception:
                log.exception("worker lane %s: batch failed, retrying", self.queue)
                await asyncio.sleep(0.5)
                self._wake.set()
                continue
            if result.events:
                log.debug(
                    "worker lane %s applied %d requests in %.1f ms",
                    self.queue,
                    len(result.events),
                    (time.perf_counter() - started) * 1000,
                )
                self._bus.publish(result.events)
                self._bus.wake(q for q in ALL if q != self.queue)
            if result.retry and not result.events:
                # Every request left was busy: give the transaction that locked its rows time
                # to commit instead of claiming again at once.
                await asyncio.sleep(_BUSY_BACKOFF)
            if result.events or result.retry:
                self._wake.set()
        log.info("worker lane %s stopped", self.queue)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _apply_batch(self, tx: Tx) -> BatchResult:
        result = BatchResult()
        skip: set[int] = set()
        now = int(time.time() * 1000)
        while len(result.events) < self._batch_size:
            claimed = fifo.claim(tx, self.queue, self._batch_size - len(result.events), skip)
            if not claimed:
                break
            for request in claimed:
                try:
                    result.events.append(self._apply_one(tx, request, now))
                except RowBusy:
                    # Another transaction has locked a row this request needs, so apply it later.
                    skip.add(request.id)
                    result.retry = True
                except ConflictError:
                    # The transaction is lost: the adapter runs the whole batch again.
                    raise
                except Exception as exc:
                    skip.add(request.id)
                    event = self._attempt_failed(tx, request, exc, now)
                    if event is None:
                        result.retry = True
                    else:
                        result.events.append(event)
        return result

    def _apply_one(self, tx: Tx, request: fifo.QueuedRequest, now: int) -> StatusEvent:
        """Apply one request and store its status, inside a savepoint of the batch.

        A DomainError rolls back the handler's writes. The failure (the failure hook's writes
        and the failed status) is then stored in a savepoint of its own. Any other exception
        leaves nothing of the request behind and propagates.
        """
        handler = self._handlers.get(request.kind)
        if handler is None:
            raise LookupError(f"no handler for {request.kind!r} on {self.queue}")
        command = _decoders[request.kind].decode(request.payload)
        ctx = Context(tx=tx, req_id=request.req_id, now=now)
        try:
            with tx.savepoint():
                body = status.succeeded(handler(ctx, command))
                fifo.complete(tx, request, body, now)
        except DomainError as error:
            ctx.effects.clear()
            body = status.failed(error.code.value, error.detail)
            with tx.savepoint():
                hook = self._failure_hooks.get(request.kind)
                if hook is not None:
                    hook(ctx, command, error)
                fifo.complete(tx, request, body, now)
        return StatusEvent(
            request.req_id, request.okey, request.wsess_id, request.kind, body, ctx.effects
        )

    def _attempt_failed(
        self, tx: Tx, request: fifo.QueuedRequest, exc: Exception, now: int
    ) -> StatusEvent | None:
        """Count a failed attempt; after the last one, store INTERNAL_ERROR and set it aside."""
        error = f"{type(exc).__name__}: {exc}"
        attempts = fifo.record_attempt(tx, request.id, error)
        log.warning(
            "request %s (%s) failed, attempt %d of %d: %s",
            request.req_id,
            request.kind,
            attempts,
            self._max_attempts,
            error,
        )
        if attempts < self._max_attempts:
            return None
        log.error("request %s set aside after %d attempts: %s", request.req_id, attempts, error)
        request.attempts = attempts
        body = status.failed(Code.INTERNAL_ERROR.value, "the request could not be applied")
        effects = []

        # In a savepoint of its own, so that a failure of these writes is this request's.
        with tx.savepoint():
            fifo.set_aside(tx, request, error, now)
            wsess_id = sessions.finish_auth_request(
                tx, request.req_id, request.okey, None, Code.INTERNAL_ERROR.value
            )
            if wsess_id is not None:
                effects.append(
                    {
                        "type": "session_failed",
                        "wsess_id": wsess_id,
                        "code": Code.INTERNAL_ERROR.value,
                    }
                )
            fifo.complete(tx, request, body, now)
        return StatusEvent(
            request.req_id, request.okey, request.wsess_id, request.kind, body, effects
        )
