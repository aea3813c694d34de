"""SQL for seed-protocol web sessions (`wsess`) and the tokens waiting to join them."""

from __future__ import annotations

from dataclasses import dataclass

from vending.store.database import Tx


@dataclass(slots=True)
class SessionRecord:
    """One web session. `token` is the session's plain token, `None` until a sign-in succeeds."""

    wsess_id: str
    token: str | None
    token_hash: str | None
    uid: str | None
    last_auth_req: str | None
    failed_code: str | None
    seen_at: int


def get_session(tx: Tx, wsess_id: str) -> SessionRecord | None:
    row = tx.one(
        "SELECT wsess_id, token, token_hash, uid, last_auth_req, failed_code, seen_at "
        "FROM web_sessions WHERE wsess_id = ?",
        (wsess_id,),
    )
    return None if row is None else SessionRecord(*row)


def insert_session(tx: Tx, wsess_id: str, now: int) -> None:
    tx.run(
        "INSERT INTO web_sessions (wsess_id, created_at, seen_at) VALUES (?, ?, ?)",
        (wsess_id, now, now),
    )


def touch_session(tx: Tx, wsess_id: str, now: int) -> None:
    tx.run("UPDATE web_sessions SET seen_at = ? WHERE wsess_id = ?", (now, wsess_id))


def start_auth_request(tx: Tx, wsess_id: str, req_id: str, token: str | None, now: int) -> None:
    """Mark `req_id` as the session's latest sign-in and park its token until it succeeds.

    A request the gateway already rejected has no token; it parks an empty one, so that the
    worker still finds the session to record the failure in.
    """
    tx.run(
        "UPDATE web_sessions SET last_auth_req = ?, failed_code = NULL, seen_at = ? "
        "WHERE wsess_id = ?",
        (req_id, now, wsess_id),
    )
    tx.run(
        "INSERT INTO pending_tokens (req_id, wsess_id, token) VALUES (?, ?, ?)",
        (req_id, wsess_id, token or ""),
    )


def finish_auth_request(
    tx: Tx, req_id: str, uid: str, token_hash: str | None, failed_code: str | None
) -> str | None:
    """Apply a sign-in's outcome to the session that sent it; return that session's id.

    On success the parked token becomes the session's token. On failure the session keeps its
    token and, if this was its latest sign-in, records the failure for the next `get`.
    """
    row = tx.one("SELECT wsess_id, token FROM pending_tokens WHERE req_id = ?", (req_id,))
    if row is None:
        return None
    wsess_id, token = str(row[0]), str(row[1])
    tx.run("DELETE FROM pending_tokens WHERE req_id = ?", (req_id,))
    if failed_code is None and token:
        tx.run(
            "UPDATE web_sessions SET token = ?, token_hash = ?, uid = ? WHERE wsess_id = ?",
            (token, token_hash, uid, wsess_id),
        )
    else:
        tx.run(
            "UPDATE web_sessions SET failed_code = ? WHERE wsess_id = ? AND last_auth_req = ?",
            (failed_code, wsess_id, req_id),
        )
    return wsess_id


def clear_failure(tx: Tx, wsess_id: str) -> None:
    tx.run("UPDATE web_sessions SET failed_code = NULL WHERE wsess_id = ?", (wsess_id,))


def clear_session_token(tx: Tx, wsess_id: str) -> None:
    tx.run(
        "UPDATE web_sessions SET token = NULL, token_hash = NULL WHERE wsess_id = ?", (wsess_id,)
    )


def clear_token_everywhere(tx: Tx, token_hashes: list[str]) -> list[str]:
    """Drop ended tokens from every session holding one; return those sessions' ids."""
    ended: list[str] = []
    for token_hash in token_hashes:
        rows = tx.all("SELECT wsess_id FROM web_sessions WHERE token_hash = ?", (token_hash,))
        ended.extend(str(row[0]) for row in rows)
        tx.run(
            "UPDATE web_sessions SET token = NULL, token_hash = NULL WHERE token_hash = ?",
            (token_hash,),
        )
    return ended
