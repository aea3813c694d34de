"""Seed-protocol web sessions (`wsess`), cached in memory over the `web_sessions` table."""

from __future__ import annotations

import uuid
from collections import OrderedDict

from vending.gateway.tokens import now_ms
from vending.queues.bus import StatusEvent
from vending.store import sessions as sql
from vending.store.database import Database
from vending.store.sessions import SessionRecord

_TOUCH_EVERY_MS = 60_000


class SessionManager:
    """Creates, finds and caches web sessions. A cached entry is dropped whenever a worker
    changes the session (sign-in result, ended token), so the next read reloads it."""

    def __init__(self, database: Database, ttl_seconds: int, capacity: int = 100_000) -> None:
        self._database = database
        self._ttl_ms = ttl_seconds * 1000
        self._cache: OrderedDict[str, SessionRecord] = OrderedDict()
        self._capacity = capacity

    async def get(self, wsess_id: str, token: str | None = None) -> SessionRecord | None:
        """Return the live session `wsess_id`, or None if it was never issued or has expired.

        A cached session whose token is not `token` (when given) is read again from the
        database: another gateway may have signed it in before this one heard of it.
        """
        record = self._cache.get(wsess_id)
        if record is not None and token is not None and record.token != token:
            record = None
        if record is None:
            record = await self._database.read(lambda tx: sql.get_session(tx, wsess_id))
            if record is None:
                return None
            self._put(record)
        now = now_ms()
        if now - record.seen_at > self._ttl_ms:
            return None
        if now - record.seen_at > _TOUCH_EVERY_MS:
            record.seen_at = now
            await self._database.write(lambda tx: sql.touch_session(tx, wsess_id, now))
        return record

    async def create(self) -> SessionRecord:
        """Issue a new session id and store the session."""
        wsess_id = str(uuid.uuid4())
        now = now_ms()
        await self._database.write(lambda tx: sql.insert_session(tx, wsess_id, now))
        record = SessionRecord(wsess_id, None, None, None, None, None, now)
        self._put(record)
        return record

    async def clear_failure(self, record: SessionRecord) -> None:
        record.failed_code = None
        await self._database.write(lambda tx: sql.clear_failure(tx, record.wsess_id))

    def forget(self, wsess_id: str) -> None:
        self._cache.pop(wsess_id, None)

    def forget_all(self) -> None:
        """Drop every cached session (after events may have been missed)."""
        self._cache.clear()

    def on_status(self, event: StatusEvent) -> None:
        """Drop cached sessions that a worker changed."""
        for effect in event.effects:
            kind = effect["type"]
            if kind in ("session_token", "session_failed"):
                self.forget(effect["wsess_id"])
            elif kind == "tokens_ended":
                for wsess_id in effect["wsess_ids"]:
                    self.forget(wsess_id)

    def _put(self, record: SessionRecord) -> None:
        self._cache[record.wsess_id] = record
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
