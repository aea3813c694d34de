"""SQL of the durable queues: enqueue, claim in per-account order, complete with a status.

Each request carries an ordering key (`okey`, the account's uid) and a sequence number taken in
the enqueue transaction. A request is claimable only when every earlier request of its key has
a status, which keeps one account's requests in acceptance order across all three queues.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from vending.store.database import Tx


@dataclass(slots=True)
class NewRequest:
    """A request the gateway is about to commit to `queue`. `payload` is JSON."""

    queue: str
    req_id: str
    okey: str
    kind: str
    payload: bytes
    wsess_id: str | None
    accepted_at: int


@dataclass(slots=True)
class QueuedRequest:
    """A request claimed by a worker."""

    id: int
    queue: str
    req_id: str
    okey: str
    seq: int
    kind: str
    payload: bytes
    wsess_id: str | None
    accepted_at: int
    attempts: int


_ENQUEUE_IN_ONE = (
    "WITH k AS (INSERT INTO order_keys (okey, next_seq, done_seq) VALUES (?, 1, 0) "
    "ON CONFLICT (okey) DO UPDATE SET next_seq = order_keys.next_seq + 1 RETURNING next_seq) "
    "INSERT INTO queue (queue, req_id, okey, seq, kind, payload, wsess_id, accepted_at) "
    "SELECT ?, ?, ?, k.next_seq, ?, ?, ?, ? FROM k"
)
"""`enqueue` as one statement, for PostgreSQL, which can send it without waiting for a result."""


def enqueue(tx: Tx, request: NewRequest) -> None:
    """Insert `request` with the next sequence number of its key."""
    fields = (
        request.queue,
        request.req_id,
        request.okey,
        request.kind,
        request.payload.decode(),
        request.wsess_id,
        request.accepted_at,
    )
    if tx.dialect == "postgresql":
        tx.send(_ENQUEUE_IN_ONE, (request.okey, *fields), expect_rows=1)
        return

    row = tx.one(
        "INSERT INTO order_keys (okey, next_seq, done_seq) VALUES (?, 1, 0) "
        "ON CONFLICT (okey) DO UPDATE SET next_seq = order_keys.next_seq + 1 "
        "RETURNING next_seq",
        (request.okey,),
    )
    assert row is not None
    queue, req_id, okey, kind, payload, wsess_id, accepted_at = fields
    tx.run(
        "INSERT INTO queue (queue, req_id, okey, seq, kind, payload, wsess_id, accepted_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (queue, req_id, okey, int(row[0]), kind, payload, wsess_id, accepted_at),
    )


_CLAIM = (
    "SELECT q.id, q.queue, q.req_id, q.okey, q.seq, q.kind, q.payload, q.wsess_id, "
    "q.accepted_at, q.attempts FROM queue q JOIN order_keys k ON k.okey = q.okey "
    "WHERE q.queue = ? AND q.seq = k.done_seq + 1 ORDER BY q.id LIMIT ?"
)


def claim(tx: Tx, queue: str, limit: int, skip: Collection[int] = ()) -> list[QueuedRequest]:
    """Return up to `limit` requests of `queue` that are next in their key's order.

    On PostgreSQL the request rows and their keys' `order_keys` rows are locked and locked rows
    are skipped (`FOR UPDATE OF q, k SKIP LOCKED`), so that concurrent workers claim disjoint
    requests and a worker never waits for a gateway that is enqueuing for the same key. Rows
    whose ids are in `skip` are left out.
    """
    sql = _CLAIM
    if tx.dialect == "postgresql":
        sql += " FOR UPDATE OF q, k SKIP LOCKED"
    rows = tx.all(sql, (queue, limit + len(skip)))
    claimed = [
        QueuedRequest(
            id=int(r[0]),
            queue=r[1],
            req_id=r[2],
            okey=r[3],
            seq=int(r[4]),
            kind=r[5],
            payload=r[6].encode() if isinstance(r[6], str) else bytes(r[6]),
            wsess_id=r[7],
            accepted_at=int(r[8]),
            attempts=int(r[9]),
        )
        for r in rows
        if int(r[0]) not in skip
    ]
    return claimed[:limit]


_COMPLETE_IN_ONE = (
    "WITH advanced AS ("
    " UPDATE order_keys SET done_seq = ? WHERE okey = ? AND done_seq = ? RETURNING okey),"
    " removed AS (DELETE FROM queue WHERE id = ? AND EXISTS (SELECT 1 FROM advanced)"
    " RETURNING 1)"
    " INSERT INTO statuses (req_id, okey, wsess_id, kind, body, created_at)"
    " SELECT ?, ?, ?, ?, ?, ? FROM advanced"
)
"""`complete` as one statement, for PostgreSQL, which runs data-changing CTEs: it inserts the
status only when the key advanced, so its row count shows whether the request was next."""


def complete(tx: Tx, request: QueuedRequest, body: bytes, now: int) -> None:
    """Store the status of `request`, advance its key and remove it from the queue.

    When the request is not the next of its key (it has a status already), nothing changes and
    the transaction raises `RowCountMismatch`, at the latest when the caller's savepoint ends or
    at commit. The condition `done_seq = seq - 1` makes the whole step happen at most once.
    """
    status = (request.req_id, request.okey, request.wsess_id, request.kind, body.decode(), now)
    if tx.dialect == "postgresql":
        tx.send(
            _COMPLETE_IN_ONE,
            (request.seq, request.okey, request.seq - 1, request.id, *status),
            expect_rows=1,
        )
        return

    tx.send(
        "UPDATE order_keys SET done_seq = ? WHERE okey = ? AND done_seq = ?",
        (request.seq, request.okey, request.seq - 1),
        expect_rows=1,
    )
    tx.send(
        "INSERT INTO statuses (req_id, okey, wsess_id, kind, body, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        status,
    )
    tx.send("DELETE FROM queue WHERE id = ?", (request.id,))


def record_attempt(tx: Tx, request_id: int, error: str) -> int:
    """Count one failed attempt at a request and return the number so far."""
    tx.run(
        "UPDATE queue SET attempts = attempts + 1, last_error = ? WHERE id = ?",
        (error[:2000], request_id),
    )
    row = tx.one("SELECT attempts FROM queue WHERE id = ?", (request_id,))
    return 0 if row is None else int(row[0])


def set_aside(tx: Tx, request: QueuedRequest, error: str, now: int) -> None:
    """Keep a request that kept failing in `dead_letters` with its last error."""
    tx.run(
        "INSERT INTO dead_letters (req_id, queue, kind, okey, attempts, error, failed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (req_id) DO NOTHING",
        (request.req_id, request.queue, request.kind, request.okey, request.attempts, error, now),
    )


@dataclass(slots=True)
class StoredStatus:
    req_id: str
    okey: str
    wsess_id: str | None
    kind: str
    body: bytes


def get_status(tx: Tx, req_id: str) -> StoredStatus | None:
    row = tx.one(
        "SELECT req_id, okey, wsess_id, kind, body FROM statuses WHERE req_id = ?", (req_id,)
    )
    if row is None:
        return None
    return StoredStatus(row[0], row[1], row[2], row[3], str(row[4]).encode())


def is_queued(tx: Tx, req_id: str) -> bool:
    return tx.one("SELECT 1 FROM queue WHERE req_id = ?", (req_id,)) is not None


def queued_owner(tx: Tx, req_id: str) -> str | None:
    """Return the ordering key (the account's uid) of a request still in a queue, else None."""
    row = tx.one("SELECT okey FROM queue WHERE req_id = ?", (req_id,))
    return None if row is None else str(row[0])


def backlog(tx: Tx) -> dict[str, int]:
    """Return the number of requests waiting in each queue."""
    return {
        str(r[0]): int(r[1]) for r in tx.all("SELECT queue, COUNT(*) FROM queue GROUP BY queue")
    }
