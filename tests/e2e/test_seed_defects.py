"""Faults of the original server that the seed protocol keeps out, one test each."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

from tests.e2e.seed_client import SeedClient

names = (f"fixed{i}" for i in itertools.count())


async def signed(make: Callable[[], SeedClient], action: str) -> SeedClient:
    client = make()
    assert "token" in await client.sign(action, next(names))
    return client


async def test_large_body_rejected(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    response = await client.http.post("/user", content=b'{"username": "' + b"x" * 70_000 + b'"}')
    assert response.json() == {"error": "body too large"}


async def test_cookie_not_sent_cross_site(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    response = await client.http.post("/user", json={"token": "get"})
    assert "samesite=lax" in response.headers["set-cookie"].lower()


async def test_client_chosen_session_not_adopted(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    client.http.cookies.set("wsess_id", "fixated-id")
    answer = await client.call("/user", {"token": "new_buyer", "username": next(names)})
    assert answer["wsess_id"] != "fixated-id"


async def test_number_with_trailing_text_rejected(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    buyer = await signed(seed_client, "new_buyer")
    assert (await buyer.do("/deposit", amount="5abc"))["failed"] == "WRONG_AMOUNT"
    status = await seller.do("/sell", product_name="Cola", cost="35abc", amount=1)
    assert status["failed"] == "BAD_INPUT"


async def test_quotes_stay_valid_json(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    name = 'Say "cheese" \\ </script>'
    product_uid = (await seller.do("/sell", product_name=name, cost=35, amount=1))["success"]

    response = await seller.http.post("/products", json={})
    assert json.loads(response.content)[0]["product_name"] == name
    updated = await seller.do("/sell", product_uid=product_uid, product_name=name + "'")
    assert updated["success"]["product_name"] == name + "'"


async def test_get_never_returns_older_token(seed_client: Callable[[], SeedClient]) -> None:
    client = await signed(seed_client, "new_buyer")
    first = client.token
    await client.call("/user", {"token": "buyer", "username": client.username, "password": "x"})
    assert await client.call("/user", {"token": "get"}) == {"failed": "INVALID_PASSWORD"}
    await client.call(
        "/user", {"token": "buyer", "username": client.username, "password": "secret-pw"}
    )
    second = await client.call("/user", {"token": "get"})
    assert second["token"] != first


async def test_only_owner_updates_product(seed_client: Callable[[], SeedClient]) -> None:
    owner = await signed(seed_client, "new_seller")
    other = await signed(seed_client, "new_seller")
    product_uid = (await owner.do("/sell", product_name="Cola", cost=35, amount=1))["success"]
    status = await other.do("/sell", product_uid=product_uid, cost=5)
    assert status["failed"] == "NOT_PRODUCT_OWNER"


async def test_update_applies_new_name(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    product_uid = (await seller.do("/sell", product_name="Cola", cost=35, amount=1))["success"]
    await seller.do("/sell", product_uid=product_uid, product_name="Tea")
    assert (await seller.call("/products", {}))[0]["product_name"] == "Tea"


async def test_negative_restock_or_cost_rejected(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    product_uid = (await seller.do("/sell", product_name="Cola", cost=35, amount=3))["success"]
    assert (await seller.do("/sell", product_uid=product_uid, amount=-2))["failed"] == "BAD_INPUT"
    assert (await seller.do("/sell", product_uid=product_uid, cost=-35))["failed"] == "BAD_INPUT"
    listed = (await seller.call("/products", {}))[0]
    assert (listed["amount"], listed["cost"]) == (3, 35)


async def test_buy_rejects_zero_negative_and_text(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    buyer = await signed(seed_client, "new_buyer")
    product_uid = (await seller.do("/sell", product_name="Cola", cost=5, amount=3))["success"]
    await buyer.do("/deposit", amount=100)
    for amount in [0, -1, "abc", None]:
        status = await buyer.do("/buy", product_uid=product_uid, amount=amount)
        assert status["failed"] == "BAD_INPUT"
    assert (await seller.call("/products", {}))[0]["amount"] == 3


async def test_buy_never_sells_fewer(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    buyer = await signed(seed_client, "new_buyer")
    product_uid = (await seller.do("/sell", product_name="Cola", cost=5, amount=3))["success"]
    await buyer.do("/deposit", amount=100)
    status = await buyer.do("/buy", product_uid=product_uid, amount=4)
    assert status["failed"] == "INSUFFICIENT_STOCK"
    assert (await buyer.call("/profile"))["deposit"] == 100


async def test_change_not_kept_in_deposit(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    buyer = await signed(seed_client, "new_buyer")
    product_uid = (await seller.do("/sell", product_name="Cola", cost=5, amount=3))["success"]
    await buyer.do("/deposit", amount=100)
    status = await buyer.do("/buy", product_uid=product_uid, amount=1)
    assert status["success"]["change"] == [50, 20, 20, 5]
    assert (await buyer.call("/profile"))["deposit"] == 0
    assert (await buyer.do("/reset"))["success"]["change"] == []


async def test_products_without_token(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    await seller.do("/sell", product_name="Cola", cost=5, amount=3)
    anonymous = seed_client()
    listed = await anonymous.call("/products", {})
    assert [p["product_name"] for p in listed] == ["Cola"]
