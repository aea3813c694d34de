"""Removal of data past its keeping time: statuses, ended sessions and tokens, old counters."""

from __future__ import annotations

from vending.store.database import Tx


def purge(
    tx: Tx,
    now: int,
    status_ttl_ms: int,
    session_ttl_ms: int,
    token_keep_ms: int,
    idempotency_ttl_ms: int,
) -> dict[str, int]:
    """Delete expired rows and return how many went from each table."""
    counts = {
        "statuses": tx.run("DELETE FROM statuses WHERE created_at < ?", (now - status_ttl_ms,)),
        "web_sessions": tx.run(
            "DELETE FROM web_sessions WHERE seen_at < ?", (now - session_ttl_ms,)
        ),
        "auth_tokens": tx.run(
            "DELETE FROM auth_tokens WHERE (ended_at IS NOT NULL AND ended_at < ?) "
            "OR expires_at < ?",
            (now - token_keep_ms, now - token_keep_ms),
        ),
        "login_failures": tx.run("DELETE FROM login_failures WHERE at < ?", (now - 120_000,)),
        "idempotency_keys": tx.run(
            "DELETE FROM idempotency_keys WHERE created_at < ?", (now - idempotency_ttl_ms,)
        ),
    }
    return counts
