"""Repository writes that guard money and stock, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vending.domain.products import Product
from vending.domain.users import Role, User
from vending.settings import Settings
from vending.store import migrate, repository
from vending.store.connect import open_database
from vending.store.database import Database, RowCountMismatch, Tx
from vending.store.repository import LedgerEntry

COLA = Product("p1", "seller_sue", "Cola", 35, 10)
ENTRIES = [
    LedgerEntry("purchase", "buyer_bob", "p1", deposit_delta=-70),
    LedgerEntry("sold", "seller_sue", "p1", stock_delta=-2),
    LedgerEntry("change_returned", "buyer_bob", deposit_delta=-30),
]


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    store = open_database(database_url, Settings(pg_pool_size=2))
    migrate.upgrade(store)

    def setup(tx: Tx) -> None:
        repository.insert_user(tx, "buyer_bob", "bob", Role.BUYER, "hash", 1)
        repository.change_deposit(tx, "buyer_bob", 0, 100)
        repository.insert_product(tx, COLA, 1)

    await store.write(setup)
    yield store
    await store.close()


async def state(database: Database) -> tuple[object, ...]:
    def read(tx: Tx) -> tuple[object, ...]:
        user = repository.get_user(tx, "buyer_bob")
        product = repository.get_product(tx, "p1")
        ledger = tx.all("SELECT kind, deposit_delta, stock_delta FROM ledger ORDER BY id")
        return (user.deposit if user else None, product.amount if product else None, ledger)

    return await database.read(read)


async def test_sale_writes_stock_deposit_and_ledger(database: Database) -> None:
    buyer = User("buyer_bob", "bob", Role.BUYER, 100)
    await database.write(lambda tx: repository.record_sale(tx, "r1", 2, COLA, 8, buyer, 0, ENTRIES))
    assert await state(database) == (
        0,
        8,
        [("purchase", -70, 0), ("sold", 0, -2), ("change_returned", -30, 0)],
    )


@pytest.mark.parametrize(
    ("product", "deposit"),
    [(COLA, 90), (Product("p1", "seller_sue", "Cola", 35, 9), 100)],
    ids=["stale-deposit", "stale-stock"],
)
async def test_sale_on_stale_reads_changes_nothing(
    database: Database, product: Product, deposit: int
) -> None:
    buyer = User("buyer_bob", "bob", Role.BUYER, deposit)
    with pytest.raises(RowCountMismatch):
        await database.write(
            lambda tx: repository.record_sale(tx, "r1", 2, product, 7, buyer, 0, ENTRIES)
        )
    assert await state(database) == (100, 10, [])


async def test_deposit_writes_balance_and_ledger(database: Database) -> None:
    account = User("buyer_bob", "bob", Role.BUYER, 100)
    entry = LedgerEntry("deposit", "buyer_bob", deposit_delta=50)
    await database.write(lambda tx: repository.record_deposit(tx, "r1", 2, account, 150, [entry]))
    assert await state(database) == (150, 10, [("deposit", 50, 0)])


async def test_deposit_on_stale_read_changes_nothing(database: Database) -> None:
    account = User("buyer_bob", "bob", Role.BUYER, 90)
    entry = LedgerEntry("deposit", "buyer_bob", deposit_delta=50)
    with pytest.raises(RowCountMismatch):
        await database.write(
            lambda tx: repository.record_deposit(tx, "r1", 2, account, 140, [entry])
        )
    assert await state(database) == (100, 10, [])
