"""A whole seller and buyer story over the seed protocol."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.seed_client import SeedClient


async def test_seller_and_buyer_story(seed_client: Callable[[], SeedClient]) -> None:
    seller, buyer = seed_client(), seed_client()
    assert "token" in await seller.sign("new_seller", "sally")
    assert "token" in await buyer.sign("new_buyer", "bob")

    created = await seller.do("/sell", product_name="Cola", cost=35, amount=10)
    product_uid = created["success"]
    assert isinstance(product_uid, str)

    assert await buyer.do("/deposit", amount=50) == {"success": "deposit: +50"}
    assert await buyer.do("/deposit", amount="20") == {"success": "deposit: +20"}
    bought = await buyer.do("/buy", product_uid=product_uid, amount=2)
    assert bought == {
        "success": {"spent": 70, "change": [], "product_uid": product_uid, "amount": 2}
    }

    profile = await buyer.call("/profile")
    assert profile == {"uid": "buyer_bob", "username": "bob", "role": "buyer", "deposit": 0}
    products = await buyer.call("/products", {})
    assert products == [
        {
            "product_uid": product_uid,
            "seller_uid": "seller_sally",
            "product_name": "Cola",
            "cost": 35,
            "amount": 8,
        }
    ]


async def test_change_comes_back_as_coins(seed_client: Callable[[], SeedClient]) -> None:
    seller, buyer = seed_client(), seed_client()
    await seller.sign("new_seller", "sam")
    await buyer.sign("new_buyer", "bea")
    product_uid = (await seller.do("/sell", product_name="Gum", cost=15, amount=5))["success"]
    for coin in (100, 50):
        await buyer.do("/deposit", amount=coin)
    bought = await buyer.do("/buy", product_uid=product_uid, amount=3)
    assert bought["success"]["spent"] == 45
    assert bought["success"]["change"] == [100, 5]
    assert (await buyer.call("/profile"))["deposit"] == 0
