"""Random sequences of seed requests, checked against a model and the ledger after each step."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.conftest import FAST_HASHING
from tests.e2e.seed_client import SeedClient
from tests.ledger import query, run_audit
from vending.domain.coins import COINS, change_for
from vending.runtime import embedded_app
from vending.settings import Settings

T = TypeVar("T")
pick = st.integers(min_value=0, max_value=10_000)
"""An index into one of the model's lists, taken modulo its length."""


@dataclass
class ModelProduct:
    uid: str
    seller: str
    cost: int
    stock: int


class VendingMachine(RuleBasedStateMachine):
    """Drives the embedded app through the seed protocol on a private event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="vending-stateful-"))
        self.settings = Settings(
            database=f"sqlite:///{self.directory / 'vending.db'}",
            purge_interval_seconds=3600,
            **FAST_HASHING,  # type: ignore[arg-type]
        )
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        started: asyncio.Future[Any] = self.loop.create_future()
        self.server = self.loop.create_task(self._serve(started))
        transport = httpx.ASGITransport(app=self.run(started))
        self.clients: list[SeedClient] = []
        self.transport = transport
        self.buyers: dict[str, SeedClient] = {}
        self.sellers: dict[str, SeedClient] = {}
        self.deposits: dict[str, int] = {}
        self.products: list[ModelProduct] = []
        self.counter = 0

    async def _serve(self, started: asyncio.Future[Any]) -> None:
        async with LifespanManager(embedded_app(self.settings)) as manager:
            started.set_result(manager.app)
            await self.stop.wait()

    def run(self, coroutine: Coroutine[Any, Any, T] | asyncio.Future[T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def client(self) -> SeedClient:
        client = SeedClient(self.transport)
        self.clients.append(client)
        return client

    def teardown(self) -> None:
        for client in self.clients:
            self.run(client.close())
        self.stop.set()
        self.run(self.server)
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -------------------------------------------------------------- rules

    @initialize()
    def open_shop(self) -> None:
        """Start every run with a seller, a buyer and a product, so that most steps trade."""
        self.register(seller=True)
        self.register(seller=False)
        self.sell(seller=0, cost=7, amount=5)

    @rule(seller=st.booleans())
    def register(self, seller: bool) -> None:
        self.counter += 1
        name = f"user{self.counter}"
        client = self.client()
        answer = self.run(client.sign("new_seller" if seller else "new_buyer", name))
        assert set(answer) == {"token"}, answer
        if seller:
            self.sellers[name] = client
        else:
            self.buyers[name] = client
            self.deposits[name] = 0

    @rule(buyer=pick)
    @precondition(lambda self: self.sellers and self.buyers)
    def register_duplicate(self, buyer: int) -> None:
        name = sorted(self.buyers)[buyer % len(self.buyers)]
        answer = self.run(self.client().sign("new_buyer", name))
        assert answer == {"failed": "DUPLICATE_USERNAME"}

    @rule(buyer=pick, coin=st.sampled_from(COINS))
    @precondition(lambda self: self.buyers)
    def deposit(self, buyer: int, coin: int) -> None:
        name = sorted(self.buyers)[buyer % len(self.buyers)]
        status = self.run(self.buyers[name].do("/deposit", amount=coin))
        assert status == {"success": f"deposit: +{coin}"}
        self.deposits[name] += coin

    @rule(seller=pick, cost=st.integers(min_value=1, max_value=40), amount=st.integers(1, 5))
    @precondition(lambda self: self.sellers)
    def sell(self, seller: int, cost: int, amount: int) -> None:
        name = sorted(self.sellers)[seller % len(self.sellers)]
        status = self.run(
            self.sellers[name].do("/sell", product_name=f"p{cost}", cost=cost * 5, amount=amount)
        )
        self.products.append(ModelProduct(status["success"], name, cost * 5, amount))

    @rule(seller=pick, product=pick, amount=st.integers(0, 5))
    @precondition(lambda self: self.products)
    def restock(self, seller: int, product: int, amount: int) -> None:
        name = sorted(self.sellers)[seller % len(self.sellers)]
        item = self.products[product % len(self.products)]
        status = self.run(self.sellers[name].do("/sell", product_uid=item.uid, amount=amount))
        if name != item.seller:
            assert status["failed"] == "NOT_PRODUCT_OWNER"
            return
        item.stock += amount
        assert status["success"]["amount"] == item.stock

    @rule(buyer=pick, product=pick, amount=st.integers(1, 4))
    @precondition(lambda self: self.buyers and self.products)
    def buy(self, buyer: int, product: int, amount: int) -> None:
        name = sorted(self.buyers)[buyer % len(self.buyers)]
        item = self.products[product % len(self.products)]
        status = self.run(self.buyers[name].do("/buy", product_uid=item.uid, amount=amount))
        deposit = self.deposits[name]
        if item.stock == 0:
            assert status["failed"] == "EMPTY_STOCK"
        elif item.stock < amount:
            assert status["failed"] == "INSUFFICIENT_STOCK"
        elif item.cost * amount > deposit:
            assert status["failed"] == "INSUFFICIENT_DEPOSIT"
        else:
            spent = item.cost * amount
            assert status["success"] == {
                "spent": spent,
                "change": change_for(deposit - spent),
                "product_uid": item.uid,
                "amount": amount,
            }
            item.stock -= amount
            self.deposits[name] = 0

    @rule(buyer=pick)
    @precondition(lambda self: self.buyers)
    def reset(self, buyer: int) -> None:
        name = sorted(self.buyers)[buyer % len(self.buyers)]
        status = self.run(self.buyers[name].do("/reset"))
        assert status == {"success": {"change": change_for(self.deposits[name])}}
        self.deposits[name] = 0

    # -------------------------------------------------------------- invariants

    @invariant()
    def balances_match_ledger(self) -> None:
        url = self.settings.database
        report = run_audit(url)
        assert report.clean, report
        stored = dict(query(url, "SELECT uid, deposit FROM users WHERE role = 'buyer'"))
        assert stored == {f"buyer_{name}": cents for name, cents in self.deposits.items()}
        assert all(cents >= 0 for cents in stored.values())

    @invariant()
    def stock_matches_ledger(self) -> None:
        url = self.settings.database
        stored = dict(query(url, "SELECT uid, amount FROM products"))
        assert stored == {item.uid: item.stock for item in self.products}
        from_ledger = dict(
            query(url, "SELECT product_uid, SUM(stock_delta) FROM ledger GROUP BY product_uid")
        )
        from_ledger.pop(None, None)
        assert from_ledger == stored
        assert all(amount >= 0 for amount in stored.values())


VendingMachine.TestCase.settings = settings(max_examples=10, stateful_step_count=25, deadline=None)
TestVendingMachine = VendingMachine.TestCase
