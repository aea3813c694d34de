"""SQL of idempotency keys: which request a client's `Idempotency-Key` stands for."""

from __future__ import annotations

from dataclasses import dataclass

from vending.store.database import Tx


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """The first request made with a key, and the SHA-256 hex digest of its body."""

    fingerprint: str
    req_id: str


def claim(tx: Tx, scope: str, fingerprint: str, req_id: str, now: int, ttl_ms: int) -> bool:
    """Bind `scope` to `req_id` unless a live binding exists; return whether this call bound it.

    A binding older than `ttl_ms` is replaced, so a key can be reused once it has expired.
    """
    tx.run("DELETE FROM idempotency_keys WHERE scope = ? AND created_at < ?", (scope, now - ttl_ms))
    inserted = tx.run(
        "INSERT INTO idempotency_keys (scope, fingerprint, req_id, created_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO NOTHING",
        (scope, fingerprint, req_id, now),
    )
    return inserted == 1


def get(tx: Tx, scope: str) -> KeyRecord | None:
    row = tx.one("SELECT fingerprint, req_id FROM idempotency_keys WHERE scope = ?", (scope,))
    return None if row is None else KeyRecord(str(row[0]), str(row[1]))
