"""Removal of expired statuses, sessions, tokens and login failures."""

from __future__ import annotations

from vending.store.database import Tx
from vending.store.purge import purge
from vending.store.sqlite import SqliteDatabase

NOW = 10_000_000
DAY = 86_400_000


def fill(tx: Tx) -> None:
    for req_id, created in (("old", NOW - DAY - 1), ("fresh", NOW - 1000)):
        tx.run(
            "INSERT INTO statuses (req_id, okey, wsess_id, kind, body, created_at) "
            "VALUES (?, 'buyer_a', 'w', 'deposit', '{}', ?)",
            (req_id, created),
        )
    for wsess_id, seen in (("stale", NOW - 7 * DAY - 1), ("live", NOW - DAY)):
        tx.run(
            "INSERT INTO web_sessions (wsess_id, created_at, seen_at) VALUES (?, ?, ?)",
            (wsess_id, seen, seen),
        )
    tx.run(
        "INSERT INTO auth_tokens (token_hash, uid, created_at, expires_at, ended_at) VALUES "
        "('ended', 'buyer_a', 0, ?, ?), ('expired', 'buyer_a', 0, ?, NULL), "
        "('valid', 'buyer_a', 0, ?, NULL)",
        (NOW + DAY, NOW - DAY - 1, NOW - DAY - 1, NOW + DAY),
    )
    tx.run(
        "INSERT INTO login_failures (okey, client_addr, at) VALUES ('buyer_a', 'x', ?), "
        "('buyer_a', 'x', ?)",
        (NOW - 200_000, NOW - 1000),
    )


def ids(database: SqliteDatabase, sql: str) -> set[str]:
    return {str(row[0]) for row in database.write_now(lambda tx: tx.all(sql))}


async def test_purge_removes_only_expired_rows(database: SqliteDatabase) -> None:
    database.write_now(fill)

    counts = database.write_now(lambda tx: purge(tx, NOW, DAY, 7 * DAY, DAY, DAY))

    assert counts == {
        "statuses": 1,
        "web_sessions": 1,
        "auth_tokens": 2,
        "login_failures": 1,
        "idempotency_keys": 0,
    }
    assert ids(database, "SELECT req_id FROM statuses") == {"fresh"}
    assert ids(database, "SELECT wsess_id FROM web_sessions") == {"live"}
    assert ids(database, "SELECT token_hash FROM auth_tokens") == {"valid"}
    assert len(ids(database, "SELECT id FROM login_failures")) == 1


async def test_purge_twice_removes_nothing_more(database: SqliteDatabase) -> None:
    database.write_now(fill)
    database.write_now(lambda tx: purge(tx, NOW, DAY, 7 * DAY, DAY, DAY))
    again = database.write_now(lambda tx: purge(tx, NOW, DAY, 7 * DAY, DAY, DAY))
    assert set(again.values()) == {0}
