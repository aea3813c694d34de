"""SQL for the domain's tables. Every function runs inside the caller's transaction.

Changes to money and stock are conditional updates (`... WHERE deposit = ?`), so a stale read can
never overwrite a newer value: the caller checks the returned row count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from vending.domain.products import Product
from vending.domain.users import Role, User
from vending.store.database import Row, RowBusy, Tx

# ---------------------------------------------------------------- users


def get_user(tx: Tx, uid: str) -> User | None:
    """Return the live (not deleted) account `uid`, or None."""
    row = tx.one(
        "SELECT uid, username, role, deposit FROM users WHERE uid = ? AND deleted_at IS NULL",
        (uid,),
    )
    if row is None:
        return None
    return User(uid=row[0], username=row[1], role=Role(row[2]), deposit=row[3])


_TOKEN_USER = (
    "SELECT u.uid, u.username, u.role, u.deposit FROM auth_tokens t "
    "JOIN users u ON u.uid = t.uid "
    "WHERE t.token_hash = ? AND t.uid = ? AND t.ended_at IS NULL AND t.expires_at > ? "
    "AND u.deleted_at IS NULL"
)


def _user(row: Row | None) -> User | None:
    if row is None:
        return None
    return User(uid=row[0], username=row[1], role=Role(row[2]), deposit=row[3])


def user_by_token(tx: Tx, uid: str, token_hash: str, now: int) -> User | None:
    """Return the live account `uid` if `token_hash` is one of its live tokens, else None."""
    return _user(tx.one(_TOKEN_USER, (token_hash, uid, now)))


def uid_taken(tx: Tx, uid: str) -> bool:
    """Return True when `uid` exists, deleted accounts included."""
    return tx.one("SELECT 1 FROM users WHERE uid = ?", (uid,)) is not None


def insert_user(tx: Tx, uid: str, username: str, role: Role, password_hash: str, now: int) -> None:
    tx.run(
        "INSERT INTO users (uid, username, role, password_hash, deposit, created_at) "
        "VALUES (?, ?, ?, ?, 0, ?)",
        (uid, username, role.value, password_hash, now),
    )


def get_password_hash(tx: Tx, uid: str) -> str | None:
    """Return the stored argon2 hash of the live account `uid`, or None."""
    row = tx.one("SELECT password_hash FROM users WHERE uid = ? AND deleted_at IS NULL", (uid,))
    return None if row is None else row[0]


def set_password_hash(tx: Tx, uid: str, password_hash: str) -> None:
    tx.run("UPDATE users SET password_hash = ? WHERE uid = ?", (password_hash, uid))


def change_deposit(tx: Tx, uid: str, expected: int, new: int) -> None:
    """Set the deposit of `uid` from `expected` to `new`.

    When the stored deposit is no longer `expected`, nothing changes and the transaction raises
    `RowCountMismatch`, at the latest when the caller's savepoint ends.
    """
    tx.send(
        "UPDATE users SET deposit = ? WHERE uid = ? AND deposit = ? AND deleted_at IS NULL",
        (new, uid, expected),
        expect_rows=1,
    )


def mark_user_deleted(tx: Tx, uid: str, now: int) -> None:
    """Delete the account but keep its row, so that the username stays taken."""
    tx.run(
        "UPDATE users SET deleted_at = ?, password_hash = NULL, deposit = 0 WHERE uid = ?",
        (now, uid),
    )


# ---------------------------------------------------------------- auth tokens


def insert_token(tx: Tx, token_hash: str, uid: str, now: int, expires_at: int) -> None:
    tx.run(
        "INSERT INTO auth_tokens (token_hash, uid, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (token_hash, uid, now, expires_at),
    )


def token_exists(tx: Tx, token_hash: str) -> bool:
    """Return True when the token was issued and not yet purged, whatever its state."""
    return tx.one("SELECT 1 FROM auth_tokens WHERE token_hash = ?", (token_hash,)) is not None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    uid: str
    role: Role
    expires_at: int


def lookup_token(tx: Tx, token_hash: str, now: int) -> TokenInfo | None:
    """Return the live account behind a valid token, or None."""
    row = tx.one(
        "SELECT t.uid, u.role, t.expires_at FROM auth_tokens t JOIN users u ON u.uid = t.uid "
        "WHERE t.token_hash = ? AND t.ended_at IS NULL AND t.expires_at > ? "
        "AND u.deleted_at IS NULL",
        (token_hash, now),
    )
    if row is None:
        return None
    return TokenInfo(uid=row[0], role=Role(row[1]), expires_at=row[2])


def count_active_tokens(tx: Tx, uid: str, now: int) -> int:
    row = tx.one(
        "SELECT COUNT(*) FROM auth_tokens WHERE uid = ? AND ended_at IS NULL AND expires_at > ?",
        (uid, now),
    )
    return 0 if row is None else int(row[0])


def end_token(tx: Tx, token_hash: str, now: int) -> bool:
    """End one token; return whether it was still active."""
    changed = tx.run(
        "UPDATE auth_tokens SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
        (now, token_hash),
    )
    return changed == 1


def end_all_tokens(tx: Tx, uid: str, now: int) -> list[str]:
    """End every active token of `uid` and return their hashes."""
    rows = tx.all("SELECT token_hash FROM auth_tokens WHERE uid = ? AND ended_at IS NULL", (uid,))
    tx.run("UPDATE auth_tokens SET ended_at = ? WHERE uid = ? AND ended_at IS NULL", (now, uid))
    return [row[0] for row in rows]


# ---------------------------------------------------------------- products

_PRODUCT_COLUMNS = "uid, seller_uid, product_name, cost, amount"


def _product(row: tuple[object, ...]) -> Product:
    return Product(
        uid=str(row[0]),
        seller_uid=str(row[1]),
        product_name=str(row[2]),
        cost=int(row[3]),  # type: ignore[call-overload]
        amount=int(row[4]),  # type: ignore[call-overload]
    )


_LOCKED_PRODUCT = (
    "p AS (SELECT {columns} FROM products WHERE uid = ?{lock}), "
    "present AS (SELECT EXISTS (SELECT 1 FROM products WHERE uid = ?) AS found)"
)
"""Common table expressions for one product locked for this transaction: `p` has its row unless
another transaction has the lock, and `present` shows whether the row exists at all."""


def _locked_product_ctes(tx: Tx) -> str:
    # SKIP LOCKED, not NOWAIT: a busy row is then no error, which would abort the transaction.
    lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
    return _LOCKED_PRODUCT.format(columns=_PRODUCT_COLUMNS, lock=lock)


def _locked_product(row: Row, found: object, product_uid: str) -> Product | None:
    """Return the product of `row`. Raise RowBusy when the product exists but another
    transaction has locked it."""
    if row[0] is not None:
        return _product(row)
    if found:
        raise RowBusy(f"product {product_uid!r} is locked by another transaction")
    return None


def get_product(tx: Tx, product_uid: str, for_update: bool = False) -> Product | None:
    """Return a product; with `for_update`, lock its row until the transaction ends.

    The lock matters on PostgreSQL, where two worker lanes may sell the same product at once.
    The second skips the locked row (`SKIP LOCKED`) instead of waiting: it raises RowBusy and
    applies its request in a later transaction. SQLite has one writer, so there the plain read
    is enough.
    """
    if not for_update:
        row = tx.one(f"SELECT {_PRODUCT_COLUMNS} FROM products WHERE uid = ?", (product_uid,))
        return None if row is None else _product(row)

    locked = tx.one(
        f"WITH {_locked_product_ctes(tx)} "
        "SELECT p.uid, p.seller_uid, p.product_name, p.cost, p.amount, present.found "
        "FROM present LEFT JOIN p ON TRUE",
        (product_uid, product_uid),
    )
    assert locked is not None
    return _locked_product(locked[:5], locked[5], product_uid)


def user_by_token_and_product(
    tx: Tx, uid: str, token_hash: str, now: int, product_uid: str
) -> tuple[User | None, Product | None]:
    """Return what `user_by_token` and `get_product(..., for_update=True)` return, in one query.

    The product's row is locked even when the token is not valid. RowBusy is raised when
    another transaction has locked the product, whatever the token.
    """
    row = tx.one(
        f"WITH {_locked_product_ctes(tx)}, u AS ({_TOKEN_USER}) "
        "SELECT u.uid, u.username, u.role, u.deposit, "
        "p.uid, p.seller_uid, p.product_name, p.cost, p.amount, present.found "
        "FROM present LEFT JOIN u ON TRUE LEFT JOIN p ON TRUE",
        (product_uid, product_uid, token_hash, uid, now),
    )
    assert row is not None
    user = None if row[0] is None else _user(row[:4])
    return user, _locked_product(row[4:9], row[9], product_uid)


def insert_product(tx: Tx, product: Product, now: int) -> None:
    tx.run(
        "INSERT INTO products (uid, seller_uid, product_name, cost, amount, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            product.uid,
            product.seller_uid,
            product.product_name,
            product.cost,
            product.amount,
            now,
        ),
    )


def replace_product(tx: Tx, old: Product, new: Product) -> None:
    """Write `new` over `old`.

    When the stored row no longer has `old`'s stock and cost, nothing changes and the
    transaction raises `RowCountMismatch`, at the latest when the caller's savepoint ends.
    """
    tx.send(
        "UPDATE products SET product_name = ?, cost = ?, amount = ? "
        "WHERE uid = ? AND amount = ? AND cost = ?",
        (new.product_name, new.cost, new.amount, old.uid, old.amount, old.cost),
        expect_rows=1,
    )


def delete_product(tx: Tx, product_uid: str) -> None:
    tx.run("DELETE FROM products WHERE uid = ?", (product_uid,))


def products_of(tx: Tx, seller_uid: str, for_update: bool = False) -> list[Product]:
    """Return a seller's products; with `for_update`, lock them as `get_product` does."""
    sql = f"SELECT {_PRODUCT_COLUMNS} FROM products WHERE seller_uid = ? ORDER BY id"
    if for_update and tx.dialect == "postgresql":
        sql += " FOR UPDATE NOWAIT"
    rows = tx.all(sql, (seller_uid,))
    return [_product(row) for row in rows]


def list_products(
    tx: Tx, seller_uid: str | None = None, after_id: int = 0, limit: int | None = None
) -> list[tuple[int, Product]]:
    """Return `(position, product)` pairs oldest first, after position `after_id`."""
    sql = f"SELECT id, {_PRODUCT_COLUMNS} FROM products WHERE id > ?"
    params: list[object] = [after_id]
    if seller_uid is not None:
        sql += " AND seller_uid = ?"
        params.append(seller_uid)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [(int(row[0]), _product(row[1:])) for row in tx.all(sql, params)]


# ---------------------------------------------------------------- ledger


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One money or stock change of an account (and product)."""

    kind: str
    uid: str | None
    product_uid: str | None = None
    deposit_delta: int = 0
    stock_delta: int = 0


def _ledger_rows(req_id: str, now: int, entries: Sequence[LedgerEntry]) -> list[object]:
    params: list[object] = []
    for entry in entries:
        params += (req_id, now, entry.kind, entry.uid, entry.product_uid)
        params += (entry.deposit_delta, entry.stock_delta)
    return params


def append_ledger(tx: Tx, req_id: str, now: int, *entries: LedgerEntry) -> None:
    """Record the changes a request made, in one statement. Balances and stock are sums of
    these deltas."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(entries))
    tx.send(
        "INSERT INTO ledger (req_id, at, kind, uid, product_uid, deposit_delta, stock_delta) "
        f"VALUES {values}",
        _ledger_rows(req_id, now, entries),
    )


_SALE = (
    "WITH sold AS (UPDATE products SET amount = ? WHERE uid = ? AND amount = ? AND cost = ? "
    "RETURNING 1), "
    "paid AS (UPDATE users SET deposit = ? WHERE uid = ? AND deposit = ? AND deleted_at IS NULL "
    "RETURNING 1) "
    "INSERT INTO ledger (req_id, at, kind, uid, product_uid, deposit_delta, stock_delta) "
    "SELECT * FROM (VALUES {values}) AS entries "
    "WHERE EXISTS (SELECT 1 FROM sold) AND EXISTS (SELECT 1 FROM paid)"
)
"""`record_sale` as one statement, for PostgreSQL: the ledger rows are inserted only when both
conditional updates changed their row, so the row count shows whether they did."""

_SALE_ROW = "(?::text, ?::bigint, ?::text, ?::text, ?::text, ?::bigint, ?::bigint)"


def record_sale(
    tx: Tx,
    req_id: str,
    now: int,
    product: Product,
    stock_left: int,
    buyer: User,
    deposit_left: int,
    entries: Sequence[LedgerEntry],
) -> None:
    """Write a sale: the product's stock, the buyer's deposit, and the ledger entries.

    This is `replace_product`, `change_deposit` and `append_ledger` in one statement on
    PostgreSQL, and raises `RowCountMismatch` in the same cases: when the stored stock, cost or
    deposit is no longer what was read, nothing changes.
    """
    if tx.dialect != "postgresql":
        replace_product(tx, product, dataclasses.replace(product, amount=stock_left))
        change_deposit(tx, buyer.uid, buyer.deposit, deposit_left)
        append_ledger(tx, req_id, now, *entries)
        return

    sql = _SALE.format(values=", ".join([_SALE_ROW] * len(entries)))
    params: list[object] = [stock_left, product.uid, product.amount, product.cost]
    params += (deposit_left, buyer.uid, buyer.deposit)
    tx.send(sql, params + _ledger_rows(req_id, now, entries), expect_rows=len(entries))


_DEPOSIT = (
    "WITH paid AS (UPDATE users SET deposit = ? WHERE uid = ? AND deposit = ? "
    "AND deleted_at IS NULL RETURNING 1) "
    "INSERT INTO ledger (req_id, at, kind, uid, product_uid, deposit_delta, stock_delta) "
    "SELECT * FROM (VALUES {values}) AS entries WHERE EXISTS (SELECT 1 FROM paid)"
)
"""`record_deposit` as one statement, for PostgreSQL, built like `_SALE`."""


def record_deposit(
    tx: Tx,
    req_id: str,
    now: int,
    account: User,
    deposit: int,
    entries: Sequence[LedgerEntry],
) -> None:
    """Set the account's deposit to `deposit` and write the ledger entries.

    This is `change_deposit` and `append_ledger` in one statement on PostgreSQL, and raises
    `RowCountMismatch` in the same case: when the stored deposit is no longer what was read,
    nothing changes.
    """
    if tx.dialect != "postgresql":
        change_deposit(tx, account.uid, account.deposit, deposit)
        append_ledger(tx, req_id, now, *entries)
        return

    sql = _DEPOSIT.format(values=", ".join([_SALE_ROW] * len(entries)))
    params: list[object] = [deposit, account.uid, account.deposit]
    tx.send(sql, params + _ledger_rows(req_id, now, entries), expect_rows=len(entries))


# ---------------------------------------------------------------- login failures


def record_login_failure(tx: Tx, okey: str, client_addr: str, now: int) -> None:
    tx.run(
        "INSERT INTO login_failures (okey, client_addr, at) VALUES (?, ?, ?)",
        (okey, client_addr, now),
    )


def count_login_failures(tx: Tx, okey: str, client_addr: str, since: int) -> tuple[int, int]:
    """Return failed logins since `since` for the account and for the client address."""
    by_account = tx.one(
        "SELECT COUNT(*) FROM login_failures WHERE okey = ? AND at >= ?", (okey, since)
    )
    by_address = tx.one(
        "SELECT COUNT(*) FROM login_failures WHERE client_addr = ? AND at >= ?",
        (client_addr, since),
    )
    return (int(by_account[0]) if by_account else 0, int(by_address[0]) if by_address else 0)


def get_meta(tx: Tx, key: str) -> str | None:
    row = tx.one("SELECT value FROM meta WHERE key = ?", (key,))
    return None if row is None else str(row[0])
