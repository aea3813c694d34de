"""The benchmark's workload: set up a seller and buyers, run the buy loop, audit the result.

Each buyer has its own keep-alive connection and loops: deposit one coin, poll its status, buy
one item of a random product, poll its status. A status is polled as soon as the response to
the submit arrives, then every `poll` seconds, as the vendload driver does. An operation's
latency runs from the moment its submit is sent to the moment a poll returns its final status.
Only operations whose final status arrives inside the measured window count toward the rates
and percentiles.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vending.bench.client import Connection, HttpError

log = logging.getLogger(__name__)

NOT_YET = {"error": "status unavailable"}


@dataclass(frozen=True, slots=True)
class Options:
    """Settings of one benchmark run. Times are in seconds, money in cents."""

    host: str
    port: int
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


@dataclass(slots=True)
class Buyer:
    """One simulated buyer, and the deposit that the results it received imply."""

    username: str
    connection: Connection
    wsess_id: str = ""
    token: str = ""
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


class SetupError(Exception):
    """The seller, its products or the buyers could not be created."""


class Bench:
    """Drives one run against the service at `options.host:options.port`."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.window = Window()
        self.failures: Counter[str] = Counter()
        self.lost_total = 0
        self.in_flight = 0
        self.phase = "setup"
        self._stopping = False
        self._prefix = "bench" + secrets.token_hex(4)
        self._product_uids: list[str] = []
        self._seller_uid = ""
        self._buyers: list[Buyer] = []

    # ------------------------------------------------------------ setup

    async def setup(self) -> None:
        """Create one seller with its products and every buyer, each signed in."""
        o = self.options
        seller = Buyer(f"{self._prefix}s", self._connect())
        await self._sign_up(seller, "new_seller")
        self._seller_uid = f"seller_{seller.username}"
        for index in range(o.products):
            body = {
                "wsess_id": seller.wsess_id,
                "token": seller.token,
                "product_name": f"bench product {index}",
                "cost": o.cost,
                "amount": o.stock,
            }
            status, _ = await self._operate(seller, "/sell", body)
            if status is None or not isinstance(status.get("success"), str):
                raise SetupError(f"creating product {index} failed: {status}")
            self._product_uids.append(status["success"])
        seller.connection.close()

        gate = asyncio.Semaphore(o.setup_concurrency)

        async def sign_up(index: int) -> Buyer:
            buyer = Buyer(f"{self._prefix}b{index}", self._connect())
            async with gate:
                await self._sign_up(buyer, "new_buyer")
            return buyer

        self._buyers = list(await asyncio.gather(*(sign_up(i) for i in range(o.buyers))))

    async def _sign_up(self, user: Buyer, action: str) -> None:
        connection = user.connection
        body = {"token": action, "username": user.username, "password": self.options.password}
        answer = await connection.post("/user", body)
        if "wsess_id" not in answer:
            raise SetupError(f"sign-up of {user.username} failed: {answer}")
        user.wsess_id = answer["wsess_id"]
        for _ in range(3):
            got = await connection.post("/user", {"token": "get", "wsess_id": user.wsess_id})
            if "token" in got:
                user.token = got["token"]
                return
            if got != {"error": "TIMEOUT"}:
                raise SetupError(f"sign-up of {user.username} failed: {got}")
        raise SetupError(f"sign-up of {user.username} got no token after 3 tries")

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
        self.phase = "measure"
        await asyncio.sleep(o.duration)
        self.window.end = time.perf_counter()
        at_window_edge()
        self.phase = "drain"
        self._stopping = True
        await asyncio.gather(*tasks)

    async def _buy_loop(self, buyer: Buyer) -> None:
        o = self.options
        deposit = {"wsess_id": buyer.wsess_id, "token": buyer.token, "amount": o.coin}
        buy = {"wsess_id": buyer.wsess_id, "token": buyer.token, "product_uid": "", "amount": 1}
        while not self._stopping:
            status, _ = await self._operate(buyer, "/deposit", deposit)
            if status is not None and "success" in status:
                buyer.expected_deposit += o.coin
            buy["product_uid"] = random.choice(self._product_uids)
            status, finished = await self._operate(buyer, "/buy", buy)
            if status is not None and "success" in status:
                buyer.expected_deposit = 0
                buyer.items_bought += int(status["success"]["amount"])
                if self.window.contains(finished):
                    self.window.pairs += 1

    async def _operate(
        self, user: Buyer, path: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, float]:
        """Submit a queued request and poll until its final status; None when it is lost.

        A lost request, a transport error or an unexpected response makes the user's expected
        deposit uncertain, because the request may still take effect.
        """
        o = self.options
        self.in_flight += 1
        started = time.perf_counter()
        try:
            answer = await self._post(user, path, body)
            req_id = answer.get("req_id") if isinstance(answer, dict) else None
            if not isinstance(req_id, str):
                self._fail(user, f"unexpected:{path}:{answer}")
                return None, time.perf_counter()
            query = {"wsess_id": user.wsess_id, "token": user.token, "req_id": req_id}
            while True:
                status = await self._post(user, "/req_status", query)
                now = time.perf_counter()
                if status != NOT_YET:
                    break
                if now - started > o.lost_after:
                    self._lose(user, now)
                    return None, now
                await asyncio.sleep(o.poll)
        except HttpError as exc:
            self._fail(user, f"transport:{path}")
            log.debug("%s of %s failed: %s", path, user.username, exc)
            return None, time.perf_counter()
        finally:
            self.in_flight -= 1
        if self.window.contains(now):
            self.window.operations += 1
            self.window.latencies_ms.append((now - started) * 1000)
        if "failed" in status:
            self.failures[f"failed:{path.strip('/')}:{status['failed']}"] += 1
        elif "success" not in status:
            self._fail(user, f"unexpected:{path}:{status}")
        return status, now

    async def _post(self, user: Buyer, path: str, body: dict[str, Any]) -> Any:
        answer = await user.connection.post(path, body)
        if self.window.contains(time.perf_counter()):
            self.window.http_requests += 1
        return answer

    def _lose(self, user: Buyer, moment: float) -> None:
        user.uncertain = True
        self.lost_total += 1
        if self.window.contains(moment):
            self.window.lost += 1

    def _fail(self, user: Buyer, key: str) -> None:
        user.uncertain = True
        self.failures[key[:120]] += 1

    # ------------------------------------------------------------ audit

    async def audit(self) -> dict[str, Any]:
        """Compare each buyer's deposit and the total stock with what the results imply."""
        mismatched: list[str] = []
        mismatched_certain: list[str] = []
        unreadable = 0
        for buyer in self._buyers:
            body = {"wsess_id": buyer.wsess_id, "token": buyer.token}
            try:
                profile = await buyer.connection.post("/profile", body)
            except HttpError:
                unreadable += 1
                continue
            if not isinstance(profile, dict) or not isinstance(profile.get("deposit"), int):
                unreadable += 1
                continue
            if profile["deposit"] != buyer.expected_deposit:
                mismatched.append(buyer.username)
                if not buyer.uncertain:
                    mismatched_certain.append(buyer.username)
            buyer.connection.close()

        connection = self._connect()
        listed = await connection.post("/products", {"uid": self._seller_uid})
        connection.close()
        stock_now = sum(p["amount"] for p in listed if p["product_uid"] in self._product_uids)
        stock_initial = self.options.stock * len(self._product_uids)
        items_bought = sum(buyer.items_bought for buyer in self._buyers)
        stock_diff = (stock_initial - stock_now) - items_bought
        return {
            "buyers": len(self._buyers),
            "unreadable": unreadable,
            "deposit_mismatches": len(mismatched),
            "deposit_mismatches_without_lost_or_errors": len(mismatched_certain),
            "uncertain_buyers": sum(1 for buyer in self._buyers if buyer.uncertain),
            "stock_initial": stock_initial,
            "stock_now": stock_now,
            "items_bought": items_bought,
            "stock_diff": stock_diff,
            "clean": not mismatched and stock_diff == 0 and unreadable == 0,
        }

    @property
    def reconnects(self) -> int:
        return sum(buyer.connection.reconnects for buyer in self._buyers)
