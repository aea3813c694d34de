"""Schema migrations on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from vending.store import migrate
from vending.store.database import Tx
from vending.store.sqlite import SqliteDatabase

TABLES = {
    "meta",
    "users",
    "auth_tokens",
    "products",
    "ledger",
    "order_keys",
    "queue",
    "dead_letters",
    "statuses",
    "web_sessions",
    "pending_tokens",
    "login_failures",
    "idempotency_keys",
    "schema_migrations",
}


def table_names(tx: Tx) -> set[str]:
    return {row[0] for row in tx.all("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_upgrade_creates_schema(tmp_path: Path) -> None:
    store = SqliteDatabase(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        applied = migrate.upgrade(store)
        assert applied == [name for _, name, _ in migrate.available()]
        assert "0001_initial.sql" in applied
        assert store.write_now(table_names) >= TABLES
        salt = store.write_now(
            lambda tx: tx.one("SELECT value FROM meta WHERE key = 'install_salt'")
        )
        assert salt is not None
        assert len(salt[0]) == 64
    finally:
        await store.close()


async def test_upgrade_is_idempotent(database: SqliteDatabase) -> None:
    salt_before = database.write_now(lambda tx: tx.all("SELECT value FROM meta"))
    versions_before = database.write_now(lambda tx: tx.all("SELECT version FROM schema_migrations"))

    assert migrate.upgrade(database) == []
    assert migrate.upgrade(database) == []

    assert database.write_now(lambda tx: tx.all("SELECT value FROM meta")) == salt_before
    versions = database.write_now(lambda tx: tx.all("SELECT version FROM schema_migrations"))
    assert versions == versions_before


async def test_upgrade_keeps_data(database: SqliteDatabase) -> None:
    database.write_now(
        lambda tx: tx.run(
            "INSERT INTO users (uid, username, role, deposit, created_at) "
            "VALUES ('buyer_bob', 'bob', 'buyer', 15, 1)"
        )
    )
    migrate.upgrade(database)
    row = database.write_now(lambda tx: tx.one("SELECT deposit FROM users WHERE uid = 'buyer_bob'"))
    assert row == (15,)
