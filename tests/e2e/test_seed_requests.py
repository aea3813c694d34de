"""Queued requests: every status, bad input of each kind, ownership and fault order."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.seed_client import SeedClient

BAD_NUMBERS: list[Any] = ["5abc", 5.5, True, -5, "", "\uff15", "-5", " 5", "5 ", "1e2", None, [5]]
"""Values the protocol rejects where it expects a number ("\uff15" is a full-width 5)."""

names = (f"user{i}" for i in itertools.count())


def failure(status: dict[str, Any]) -> str:
    """Return the failure code of a status, checking that nothing but a detail comes with it."""
    assert set(status) <= {"failed", "detail"}, status
    code: str = status["failed"]
    return code


async def signed(make: Callable[[], SeedClient], action: str) -> SeedClient:
    client = make()
    assert "token" in await client.sign(action, next(names))
    return client


async def new_product(seller: SeedClient, cost: Any = 35, amount: Any = 10) -> str:
    status = await seller.do("/sell", product_name="Cola", cost=cost, amount=amount)
    product_uid: str = status["success"]
    return product_uid


async def fund(buyer: SeedClient, *coins: int) -> None:
    for coin in coins:
        assert await buyer.do("/deposit", amount=coin) == {"success": f"deposit: +{coin}"}


async def products(client: SeedClient) -> dict[str, dict[str, Any]]:
    return {p["product_uid"]: p for p in await client.call("/products", {})}


# ------------------------------------------------------------------ /deposit


@pytest.mark.parametrize("amount", [5, 10, 20, 50, 100, "5", "100", "0050"])
async def test_deposit_accepts_coins(seed_client: Callable[[], SeedClient], amount: Any) -> None:
    buyer = await signed(seed_client, "new_buyer")
    coin = int(amount)
    assert await buyer.do("/deposit", amount=amount) == {"success": f"deposit: +{coin}"}
    assert (await buyer.call("/profile"))["deposit"] == coin


@pytest.mark.parametrize("amount", [0, 1, 25, 200, "25", "99999999999", *BAD_NUMBERS])
async def test_deposit_wrong_amount(seed_client: Callable[[], SeedClient], amount: Any) -> None:
    buyer = await signed(seed_client, "new_buyer")
    status = await buyer.do("/deposit", amount=amount)
    assert failure(status) == "WRONG_AMOUNT"
    assert "amount" in status["detail"]
    assert (await buyer.call("/profile"))["deposit"] == 0


async def test_deposit_missing_amount(seed_client: Callable[[], SeedClient]) -> None:
    buyer = await signed(seed_client, "new_buyer")
    assert failure(await buyer.do("/deposit")) == "WRONG_AMOUNT"


async def test_deposit_buyers_only(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    assert failure(await seller.do("/deposit", amount=5)) == "DEPOSIT_BUYERS_ONLY"


# ------------------------------------------------------------------ /sell (create)


async def test_sell_creates_product(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    product_uid = await new_product(seller, cost="35", amount="7")
    assert (await products(seller))[product_uid] == {
        "product_uid": product_uid,
        "seller_uid": f"seller_{seller.username}",
        "product_name": "Cola",
        "cost": 35,
        "amount": 7,
    }


async def test_sell_sellers_only(seed_client: Callable[[], SeedClient]) -> None:
    buyer = await signed(seed_client, "new_buyer")
    status = await buyer.do("/sell", product_name="Cola", cost=35, amount=1)
    assert failure(status) == "SELL_SELLERS_ONLY"


@pytest.mark.parametrize("cost", [7, 1, "33", 999_999])
async def test_sell_wrong_cost(seed_client: Callable[[], SeedClient], cost: Any) -> None:
    seller = await signed(seed_client, "new_seller")
    status = await seller.do("/sell", product_name="Cola", cost=cost, amount=1)
    assert failure(status) == "WRONG_COST"
    assert await products(seller) == {}


@pytest.mark.parametrize(
    "fields",
    [
        *({"product_name": "Cola", "cost": bad, "amount": 1} for bad in BAD_NUMBERS),
        *({"product_name": "Cola", "cost": 35, "amount": bad} for bad in BAD_NUMBERS),
        {"product_name": "Cola", "cost": 0, "amount": 1},
        {"product_name": "Cola", "cost": 1_000_005, "amount": 1},
        {"product_name": "Cola", "cost": 35, "amount": 0},
        {"product_name": "Cola", "cost": 35, "amount": 1_000_000_001},
        {"product_name": "", "cost": 35, "amount": 1},
        {"product_name": "x" * 65, "cost": 35, "amount": 1},
        {"product_name": 5, "cost": 35, "amount": 1},
        {"product_name": "Co\x00la", "cost": 35, "amount": 1},
        {"product_name": "Cola\n", "cost": 35, "amount": 1},
        {"cost": 35, "amount": 1},
        {"product_name": "Cola", "amount": 1},
        {"product_name": "Cola", "cost": 35},
    ],
)
async def test_sell_bad_input(
    seed_client: Callable[[], SeedClient], fields: dict[str, Any]
) -> None:
    seller = await signed(seed_client, "new_seller")
    status = await seller.do("/sell", **fields)
    assert failure(status) == "BAD_INPUT"
    assert status["detail"].split()[0] in {"product_name", "cost", "amount"}
    assert await products(seller) == {}


# ------------------------------------------------------------------ /sell (update)


async def test_sell_updates_name_cost_and_restocks(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    product_uid = await new_product(seller, cost=35, amount=10)

    status = await seller.do(
        "/sell", product_uid=product_uid, product_name="Cola Zero", cost="40", amount="5"
    )
    expected = {
        "product_uid": product_uid,
        "seller_uid": f"seller_{seller.username}",
        "product_name": "Cola Zero",
        "cost": 40,
        "amount": 15,
    }
    assert status == {"success": expected}
    assert (await products(seller))[product_uid] == expected

    status = await seller.do("/sell", product_uid=product_uid, amount=0)
    assert status == {"success": expected}


async def test_sell_update_failures(seed_client: Callable[[], SeedClient]) -> None:
    owner = await signed(seed_client, "new_seller")
    other = await signed(seed_client, "new_seller")
    product_uid = await new_product(owner)

    unknown = await owner.do("/sell", product_uid="no-such-product", amount=1)
    assert failure(unknown) == "PRODUCT_NOT_FOUND"
    assert failure(await other.do("/sell", product_uid=product_uid, amount=1)) == (
        "NOT_PRODUCT_OWNER"
    )
    assert failure(await other.do("/sell", product_uid=product_uid, product_name="Mine")) == (
        "NOT_PRODUCT_OWNER"
    )
    assert failure(await owner.do("/sell", product_uid=product_uid, cost=12)) == "WRONG_COST"
    for bad in [-5, "-5", "5abc", 5.5, True]:
        assert failure(await owner.do("/sell", product_uid=product_uid, amount=bad)) == (
            "BAD_INPUT"
        )
        assert failure(await owner.do("/sell", product_uid=product_uid, cost=bad)) == "BAD_INPUT"
    assert failure(await owner.do("/sell", product_uid=product_uid, product_name="")) == (
        "BAD_INPUT"
    )

    buyer = await signed(seed_client, "new_buyer")
    assert failure(await buyer.do("/sell", product_uid=product_uid, amount=1)) == (
        "SELL_SELLERS_ONLY"
    )
    assert (await products(owner))[product_uid]["amount"] == 10
    assert (await products(owner))[product_uid]["product_name"] == "Cola"


# ------------------------------------------------------------------ /buy and /reset


async def test_buy_success_and_change(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    buyer = await signed(seed_client, "new_buyer")
    product_uid = await new_product(seller, cost=35, amount=10)
    await fund(buyer, 100, 100, 20)

    status = await buyer.do("/buy", product_uid=product_uid, amount="3")
    assert status == {
        "success": {"spent": 105, "change": [100, 10, 5], "product_uid": product_uid, "amount": 3}
    }
    assert (await buyer.call("/profile"))["deposit"] == 0
    assert (await products(buyer))[product_uid]["amount"] == 7


async def test_buy_buyers_only(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    product_uid = await new_product(seller)
    status = await seller.do("/buy", product_uid=product_uid, amount=1)
    assert failure(status) == "BUY_BUYERS_ONLY"


@pytest.mark.parametrize("amount", [0, "0", 1_000_000_001, *BAD_NUMBERS])
async def test_buy_bad_amount(seed_client: Callable[[], SeedClient], amount: Any) -> None:
    seller = await signed(seed_client, "new_seller")
    buyer = await signed(seed_client, "new_buyer")
    product_uid = await new_product(seller)
    await fund(buyer, 100)

    status = await buyer.do("/buy", product_uid=product_uid, amount=amount)
    assert failure(status) == "BAD_INPUT"
    assert "amount" in status["detail"]
    assert (await buyer.call("/profile"))["deposit"] == 100
    assert (await products(buyer))[product_uid]["amount"] == 10


async def test_buy_stock_and_deposit_failures(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    buyer = await signed(seed_client, "new_buyer")
    product_uid = await new_product(seller, cost=50, amount=2)

    assert failure(await buyer.do("/buy", product_uid="nope", amount=1)) == "PRODUCT_NOT_FOUND"
    assert failure(await buyer.do("/buy", product_uid=product_uid, amount=3)) == (
        "INSUFFICIENT_STOCK"
    )
    await fund(buyer, 50)
    assert failure(await buyer.do("/buy", product_uid=product_uid, amount=2)) == (
        "INSUFFICIENT_DEPOSIT"
    )
    assert (await buyer.call("/profile"))["deposit"] == 50

    await fund(buyer, 50)
    assert "success" in await buyer.do("/buy", product_uid=product_uid, amount=2)
    assert failure(await buyer.do("/buy", product_uid=product_uid, amount=1)) == "EMPTY_STOCK"


async def test_buy_missing_product_uid(seed_client: Callable[[], SeedClient]) -> None:
    buyer = await signed(seed_client, "new_buyer")
    for product_uid in [None, "", 5]:
        status = await buyer.do("/buy", product_uid=product_uid, amount=1)
        assert failure(status) == "BAD_INPUT"


async def test_reset_returns_deposit(seed_client: Callable[[], SeedClient]) -> None:
    buyer = await signed(seed_client, "new_buyer")
    assert await buyer.do("/reset") == {"success": {"change": []}}
    await fund(buyer, 100, 50, 20, 20, 5)
    assert await buyer.do("/reset") == {"success": {"change": [100, 50, 20, 20, 5]}}
    assert (await buyer.call("/profile"))["deposit"] == 0


async def test_reset_buyers_only(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    assert failure(await seller.do("/reset")) == "RESET_BUYERS_ONLY"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/deposit", {"amount": 5}),
        ("/sell", {"product_name": "Cola", "cost": 35, "amount": 1}),
        ("/buy", {"product_uid": "x", "amount": 1}),
        ("/reset", {}),
    ],
)
async def test_foreign_token_is_unauthorized(
    seed_client: Callable[[], SeedClient], path: str, fields: dict[str, Any]
) -> None:
    victim = await signed(seed_client, "new_buyer")
    attacker = await signed(seed_client, "new_seller")
    answer = await attacker.call(path, {"token": victim.token, **fields})
    assert "req_id" in answer
    assert failure(await attacker.status(answer["req_id"])) == "unauthorized"
    assert (await victim.call("/profile"))["deposit"] == 0
    assert await products(victim) == {}


# ------------------------------------------------------------------ fault order


async def test_fault_order(seed_client: Callable[[], SeedClient]) -> None:
    """Token, role, input, product exists, owner, EMPTY_STOCK, INSUFFICIENT_STOCK, deposit."""
    seller = await signed(seed_client, "new_seller")
    other = await signed(seed_client, "new_seller")
    buyer = await signed(seed_client, "new_buyer")
    stocked = await new_product(seller, cost=50, amount=2)
    sold_out = await new_product(seller, cost=50, amount=1)
    await fund(buyer, 50)
    assert "success" in await buyer.do("/buy", product_uid=sold_out, amount=1)

    cases: list[tuple[SeedClient, str, dict[str, Any], str]] = [
        # token before role
        (seller, "/deposit", {"token": "forged", "amount": 3}, "unauthorized"),
        (buyer, "/sell", {"token": "forged", "cost": 7}, "unauthorized"),
        # role before input
        (seller, "/deposit", {"amount": 3}, "DEPOSIT_BUYERS_ONLY"),
        (buyer, "/sell", {"product_name": "", "cost": 7, "amount": 0}, "SELL_SELLERS_ONLY"),
        (seller, "/buy", {"product_uid": "nope", "amount": 0}, "BUY_BUYERS_ONLY"),
        (seller, "/reset", {}, "RESET_BUYERS_ONLY"),
        # input before product exists
        (buyer, "/buy", {"product_uid": "nope", "amount": 0}, "BAD_INPUT"),
        (seller, "/sell", {"product_uid": "nope", "cost": 7}, "WRONG_COST"),
        (seller, "/sell", {"product_uid": "nope", "amount": -1}, "BAD_INPUT"),
        # input before owner
        (other, "/sell", {"product_uid": stocked, "cost": -5}, "BAD_INPUT"),
        # product exists, then owner
        (other, "/sell", {"product_uid": "nope", "amount": 1}, "PRODUCT_NOT_FOUND"),
        (other, "/sell", {"product_uid": stocked, "amount": 1}, "NOT_PRODUCT_OWNER"),
        # product exists before stock and deposit
        (buyer, "/buy", {"product_uid": "nope", "amount": 99}, "PRODUCT_NOT_FOUND"),
        # EMPTY_STOCK before INSUFFICIENT_STOCK before INSUFFICIENT_DEPOSIT
        (buyer, "/buy", {"product_uid": sold_out, "amount": 5}, "EMPTY_STOCK"),
        (buyer, "/buy", {"product_uid": stocked, "amount": 3}, "INSUFFICIENT_STOCK"),
        (buyer, "/buy", {"product_uid": stocked, "amount": 1}, "INSUFFICIENT_DEPOSIT"),
    ]
    for client, path, fields, expected in cases:
        status = await client.status(await client.submit(path, **fields))
        assert failure(status) == expected, (path, fields)


# ------------------------------------------------------------------ reads


async def test_req_status_of_other_session(seed_client: Callable[[], SeedClient]) -> None:
    alice = await signed(seed_client, "new_buyer")
    bob = await signed(seed_client, "new_buyer")
    req_id = await alice.submit("/deposit", amount=5)
    assert await alice.status(req_id) == {"success": "deposit: +5"}

    assert await bob.call("/req_status", req_id=req_id) == {"error": "status unavailable"}
    assert await bob.call("/req_status", req_id="1.unknown") == {"error": "status unavailable"}
    assert await bob.call("/req_status") == {"error": "status unavailable"}
    assert await bob.call("/req_status", req_id=5) == {"error": "status unavailable"}


async def test_reads_reject_other_token(seed_client: Callable[[], SeedClient]) -> None:
    alice = await signed(seed_client, "new_buyer")
    bob = await signed(seed_client, "new_buyer")
    for path in ["/profile", "/req_status", "/products"]:
        assert await alice.call(path, {"token": bob.token}) == {"error": "UNAUTHORIZED"}
        assert await alice.call(path, {"token": "forged"}) == {"error": "UNAUTHORIZED"}


async def test_profile_fields(seed_client: Callable[[], SeedClient]) -> None:
    seller = await signed(seed_client, "new_seller")
    assert await seller.call("/profile") == {
        "uid": f"seller_{seller.username}",
        "username": seller.username,
        "role": "seller",
        "deposit": 0,
    }


async def test_products_public_and_filtered(seed_client: Callable[[], SeedClient]) -> None:
    first = await signed(seed_client, "new_seller")
    second = await signed(seed_client, "new_seller")
    one = await new_product(first)
    two = await new_product(second)
    three = await new_product(first)
    anonymous = seed_client()

    listed = await anonymous.call("/products", {})
    assert [p["product_uid"] for p in listed] == [one, two, three]
    mine = await anonymous.call("/products", {"uid": f"seller_{first.username}"})
    assert [p["product_uid"] for p in mine] == [one, three]
    assert await anonymous.call("/products", {"uid": "seller_nobody"}) == []
    assert await first.call("/products") == listed
