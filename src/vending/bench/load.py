"""The benchmark's workload: set up a seller and buyers, run the buy loop, audit the result.

Each buyer has its own keep-alive connection and loops: deposit one coin, wait for its final
status, buy one item of a random product, wait for its final status. How a final status is
waited for depends on the protocol (`vending.bench.seed`, `vending.bench.rest`). An operation's
latency runs from the moment its submit is sent to the moment its final status arrives. Only
operations whose final status arrives inside the measured window count toward the rates and
percentiles.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from vending.bench.api import Api, Outcome, UnexpectedResponse, User
from vending.bench.client import Connection, HttpError
from vending.bench.rest import RestApi
from vending.bench.seed import SeedApi

log = logging.getLogger(__name__)

Proto = Literal["seed", "rest"]
PROTOCOLS: tuple[Proto, ...] = ("seed", "rest")


@dataclass(frozen=True, slots=True)
class Options:
    """Settings of one benchmark run. Times are in seconds, money in cents.

    `prefer_async` applies to the REST API only: deposits and buys send `Prefer: respond-async`.
    """

    host: str
    port: int
    proto: Proto = "seed"
    buyers: int = 100
    duration: float = 15.0
    warmup: float = 2.0
    poll: float = 0.02
    lost_after: float = 1.0
    products: int = 10
    stock: int = 1_000_000
    cost: int = 5
    coin: int = 5
    password: str = "bench-password-1"
    setup_concurrency: int = 32
    timeout: float = 5.0
    prefer_async: bool = False


def make_api(options: Options) -> Api:
    """Return the client layer of `options.proto`."""
    if options.proto == "seed":
        return SeedApi(options.poll, options.lost_after)
    if options.proto == "rest":
        return RestApi(options.poll, options.lost_after, options.timeout, options.prefer_async)
    raise ValueError(f"unknown protocol {options.proto!r}; expected one of {PROTOCOLS}")


@dataclass(slots=True)
class Buyer:
    """One simulated buyer, and the deposit that the results it received imply."""

    user: User
    expected_deposit: int = 0
    uncertain: bool = False
    items_bought: int = 0


@dataclass(slots=True)
class Window:
    """Counters of the measured window; `start` and `end` are `time.perf_counter()` values."""

    start: float = float("inf")
    end: float = float("inf")
    latencies_ms: list[float] = field(default_factory=list)
    operations: int = 0
    pairs: int = 0
    lost: int = 0
    http_requests: int = 0

    def contains(self, moment: float) -> bool:
        return self.start <= moment < self.end


@dataclass(slots=True)
class Run:
    """Everything a finished run measured, before the figures are derived from it."""

    options: Options
    window: Window
    failures: Counter[str]
    lost_total: int
    reconnects: int
    setup_seconds: float
    audit: dict[str, Any]


class Bench:
    """Drives one run against the service at `options.host:options.port`."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.api = make_api(options)
        self.window = Window()
        self.failures: Counter[str] = Counter()
        self.lost_total = 0
        self.in_flight = 0
        self.phase = "setup"
        self._stopping = False
        self._prefix = "bench" + secrets.token_hex(4)
        self._product_ids: list[str] = []
        self._seller: User | None = None
        self._buyers: list[Buyer] = []

    # ------------------------------------------------------------ setup

    async def setup(self) -> None:
        """Create one seller with its products and every buyer, each signed in."""
        o = self.options
        seller = User(f"{self._prefix}s", self._connect())
        await self.api.sign_up(seller, "seller", o.password)
        for index in range(o.products):
            product_id = await self.api.create_product(
                seller, f"bench product {index}", o.cost, o.stock
            )
            self._product_ids.append(product_id)
        seller.connection.close()
        self._seller = seller

        gate = asyncio.Semaphore(o.setup_concurrency)

        async def sign_up(index: int) -> Buyer:
            user = User(f"{self._prefix}b{index}", self._connect())
            async with gate:
                await self.api.sign_up(user, "buyer", o.password)
            return Buyer(user)

        self._buyers = list(await asyncio.gather(*(sign_up(i) for i in range(o.buyers))))

    def _connect(self) -> Connection:
        return Connection(self.options.host, self.options.port, self.options.timeout)

    # ------------------------------------------------------------ load

    async def load(self, at_window_edge: Callable[[], None] = lambda: None) -> None:
        """Run the buyers through the warm-up and the window, then let operations finish.

        `at_window_edge` is called right at the start and right at the end of the window.
        """
        o = self.options
        self.phase = "warm-up"
        tasks = [asyncio.create_task(self._buy_loop(buyer)) for buyer in self._buyers]
        await asyncio.sleep(o.warmup)
        at_window_edge()
        self.window.start = time.perf_counter()
        requests_before = self._requests_sent()
        self.phase = "measure"
        await asyncio.sleep(o.duration)
        self.window.end = time.perf_counter()
        self.window.http_requests = self._requests_sent() - requests_before
        at_window_edge()
        self.phase = "drain"
        self._stopping = True
        await asyncio.gather(*tasks)

    async def _buy_loop(self, buyer: Buyer) -> None:
        o = self.options
        while not self._stopping:
            outcome = await self._operate(buyer, "deposit", self.api.deposit(buyer.user, o.coin))
            if outcome is not None and outcome.status == "success":
                buyer.expected_deposit += o.coin
            product_id = random.choice(self._product_ids)
            outcome = await self._operate(buyer, "buy", self.api.buy(buyer.user, product_id))
            if outcome is not None and outcome.status == "success":
                # A purchase hands the rest of the deposit back as change.
                buyer.expected_deposit = 0
                buyer.items_bought += outcome.items
                if self.window.contains(outcome.finished):
                    self.window.pairs += 1

    async def _operate(
        self, buyer: Buyer, name: str, call: Coroutine[Any, Any, Outcome]
    ) -> Outcome | None:
        """Await one deposit or buy and count it; None after a transport or protocol error.

        A lost operation, a transport error or an unexpected response makes the buyer's expected
        deposit uncertain, because the request may still take effect.
        """
        self.in_flight += 1
        try:
            outcome = await call
        except HttpError as exc:
            self._fail(buyer, f"transport:{name}")
            log.debug("%s of %s failed: %s", name, buyer.user.username, exc)
            return None
        except UnexpectedResponse as exc:
            self._fail(buyer, f"unexpected:{name}:{exc}")
            return None
        finally:
            self.in_flight -= 1
        if outcome.status == "lost":
            buyer.uncertain = True
            self.lost_total += 1
            if self.window.contains(outcome.finished):
                self.window.lost += 1
            return outcome
        if self.window.contains(outcome.finished):
            self.window.operations += 1
            self.window.latencies_ms.append((outcome.finished - outcome.started) * 1000)
        if outcome.status == "failed":
            self.failures[f"failed:{name}:{outcome.code}"] += 1
        return outcome

    def _fail(self, buyer: Buyer, key: str) -> None:
        buyer.uncertain = True
        self.failures[key[:120]] += 1

    def _requests_sent(self) -> int:
        return sum(buyer.user.connection.requests for buyer in self._buyers)

    # ------------------------------------------------------------ audit

    async def audit(self) -> dict[str, Any]:
        """Compare each buyer's deposit and the total stock with what the results imply."""
        mismatched: list[str] = []
        mismatched_certain: list[str] = []
        unreadable = 0
        for buyer in self._buyers:
            try:
                deposit = await self.api.read_deposit(buyer.user)
            except (HttpError, UnexpectedResponse) as exc:
                log.warning("cannot read the deposit of %s: %s", buyer.user.username, exc)
                unreadable += 1
                continue
            finally:
                buyer.user.connection.close()
            if deposit != buyer.expected_deposit:
                mismatched.append(buyer.user.username)
                if not buyer.uncertain:
                    mismatched_certain.append(buyer.user.username)

        assert self._seller is not None, "audit() needs setup() first"
        try:
            stock = await self.api.read_stock(self._seller, self._product_ids)
        except (HttpError, UnexpectedResponse) as exc:
            log.warning("cannot read the stock of the benchmark's products: %s", exc)
            stock = {}
        finally:
            self._seller.connection.close()
        unreadable_products = len(set(self._product_ids) - set(stock))
        stock_now = sum(stock.values())
        stock_initial = self.options.stock * len(self._product_ids)
        items_bought = sum(buyer.items_bought for buyer in self._buyers)
        stock_diff = (stock_initial - stock_now) - items_bought
        clean = not mismatched and stock_diff == 0 and unreadable == 0 and not unreadable_products
        return {
            "buyers": len(self._buyers),
            "unreadable": unreadable,
            "unreadable_products": unreadable_products,
            "deposit_mismatches": len(mismatched),
            "deposit_mismatches_without_lost_or_errors": len(mismatched_certain),
            "uncertain_buyers": sum(1 for buyer in self._buyers if buyer.uncertain),
            "stock_initial": stock_initial,
            "stock_now": stock_now,
            "items_bought": items_bought,
            "stock_diff": stock_diff,
            "clean": clean,
        }

    @property
    def reconnects(self) -> int:
        return sum(buyer.user.connection.reconnects for buyer in self._buyers)
