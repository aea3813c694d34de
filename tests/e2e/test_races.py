"""Concurrent requests against the embedded service: stock, deposits, sign-ins, wake-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.e2e.seed_client import SeedClient
from tests.ledger import query, run_audit
from vending.settings import Settings


async def signed(make: Callable[[], SeedClient], action: str, username: str) -> SeedClient:
    client = make()
    assert "token" in await client.sign(action, username)
    return client


async def test_fifty_buyers_ten_in_stock(
    seed_client: Callable[[], SeedClient], settings: Settings
) -> None:
    seller = await signed(seed_client, "new_seller", "stocker")
    product_uid = (await seller.do("/sell", product_name="Rare", cost=35, amount=10))["success"]
    buyers = await asyncio.gather(
        *(signed(seed_client, "new_buyer", f"crowd{i}") for i in range(50))
    )
    await asyncio.gather(*(b.do("/deposit", amount=100) for b in buyers))

    req_ids = await asyncio.gather(
        *(b.submit("/buy", product_uid=product_uid, amount=1) for b in buyers)
    )
    statuses = await asyncio.gather(*(b.status(r) for b, r in zip(buyers, req_ids, strict=True)))

    sold = [s for s in statuses if "success" in s]
    assert len(sold) == 10
    assert [s["failed"] for s in statuses if "failed" in s] == ["EMPTY_STOCK"] * 40
    for status in sold:
        assert status["success"] == {
            "spent": 35,
            "change": [50, 10, 5],
            "product_uid": product_uid,
            "amount": 1,
        }
    deposits = [(await b.call("/profile"))["deposit"] for b in buyers]
    for deposit, status in zip(deposits, statuses, strict=True):
        assert deposit == (0 if "success" in status else 100)
    assert (await seller.call("/products", {}))[0]["amount"] == 0

    purchases = query(
        settings.database,
        "SELECT req_id, deposit_delta FROM ledger WHERE kind = 'purchase'",
    )
    assert sorted(r for r, _ in purchases) == sorted(
        r for r, s in zip(req_ids, statuses, strict=True) if "success" in s
    )
    assert {delta for _, delta in purchases} == {-35}
    assert run_audit(settings.database).clean


async def test_deposits_and_buys_at_once(
    seed_client: Callable[[], SeedClient], settings: Settings
) -> None:
    seller = await signed(seed_client, "new_seller", "vendor")
    buyer = await signed(seed_client, "new_buyer", "hasty")
    product_uid = (await seller.do("/sell", product_name="Gum", cost=15, amount=100))["success"]

    calls: list[Any] = []
    for i in range(20):
        calls.append(buyer.submit("/deposit", amount=[5, 10, 20, 50, 100][i % 5]))
        if i % 4 == 3:
            calls.append(buyer.submit("/buy", product_uid=product_uid, amount=2))
    req_ids = await asyncio.gather(*calls)
    statuses = [await buyer.status(r) for r in req_ids]

    deposits = [s for s in statuses if isinstance(s.get("success"), str)]
    buys = [s for s in statuses if isinstance(s.get("success"), dict)]
    assert len(deposits) == 20
    assert all("failed" not in s or s["failed"] == "INSUFFICIENT_DEPOSIT" for s in statuses)
    inserted = sum(int(s["success"].removeprefix("deposit: +")) for s in deposits)
    returned = sum(s["success"]["spent"] + sum(s["success"]["change"]) for s in buys)
    balance = (await buyer.call("/profile"))["deposit"]
    assert inserted == 740
    assert balance == inserted - returned

    (ledger_sum,) = query(
        settings.database, "SELECT SUM(deposit_delta) FROM ledger WHERE uid = 'buyer_hasty'"
    )
    assert ledger_sum == (balance,)
    stock = (await seller.call("/products", {}))[0]["amount"]
    assert stock == 100 - 2 * len(buys)
    assert run_audit(settings.database).clean


async def test_sign_up_and_login_10ms_apart(seed_client: Callable[[], SeedClient]) -> None:
    for i in range(5):
        first, second = seed_client(), seed_client()
        username = f"quick{i}"
        body = {"username": username, "password": "secret-pw"}
        sign_up = asyncio.create_task(first.call("/user", {"token": "new_buyer", **body}))
        await asyncio.sleep(0.01)
        login = asyncio.create_task(second.call("/user", {"token": "buyer", **body}))
        await asyncio.gather(sign_up, login)

        first_token = await first.call("/user", {"token": "get"})
        second_token = await second.call("/user", {"token": "get"})
        assert set(first_token) == {"token"}
        assert set(second_token) == {"token"}
        assert first_token != second_token


async def test_status_ready_soon_on_idle_server(seed_client: Callable[[], SeedClient]) -> None:
    buyer = await signed(seed_client, "new_buyer", "idle")
    delays = []
    for _ in range(5):
        await asyncio.sleep(0.05)
        req_id = await buyer.submit("/deposit", amount=5)
        answered = time.monotonic()
        while await buyer.call("/req_status", req_id=req_id) == {"error": "status unavailable"}:
            await asyncio.sleep(0.001)
        delays.append(time.monotonic() - answered)
    assert min(delays) < 0.05, delays
