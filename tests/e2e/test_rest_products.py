"""REST API: products, deposits, buying and resets."""

from __future__ import annotations

import httpx

from tests.e2e.rest_client import API, assert_problem, new_product, signed_up


async def test_product_crud(http: httpx.AsyncClient) -> None:
    seller = await signed_up(http, "seller", "sally")
    created = await http.post(
        f"{API}/products",
        json={"product_name": "Cola", "cost": 35, "amount_available": 0},
        headers=seller,
    )
    assert created.status_code == 201, created.text
    product = created.json()
    assert created.headers["location"] == f"{API}/products/{product['id']}"
    assert product == {
        "id": product["id"],
        "seller_id": "seller_sally",
        "product_name": "Cola",
        "cost": 35,
        "amount_available": 0,
    }
    assert (await http.get(f"{API}/products/{product['id']}")).json() == product

    replaced = await http.put(
        f"{API}/products/{product['id']}",
        json={"product_name": "Cola Zero", "cost": 40, "amount_available": 7},
        headers=seller,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["amount_available"] == 7
    assert replaced.json()["product_name"] == "Cola Zero"

    patched = await http.patch(
        f"{API}/products/{product['id']}", json={"amount_available": 2}, headers=seller
    )
    assert patched.json() == {**replaced.json(), "amount_available": 2}

    deleted = await http.delete(f"{API}/products/{product['id']}", headers=seller)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(await http.get(f"{API}/products/{product['id']}"), 404, "PRODUCT_NOT_FOUND")


async def test_only_owner_changes_product(http: httpx.AsyncClient) -> None:
    owner = await signed_up(http, "seller", "olga")
    other = await signed_up(http, "seller", "otto")
    buyer = await signed_up(http, "buyer", "bill")
    product = await new_product(http, owner)
    url = f"{API}/products/{product['id']}"

    assert_problem(
        await http.patch(url, json={"cost": 50}, headers=other), 403, "NOT_PRODUCT_OWNER"
    )
    assert_problem(await http.delete(url, headers=other), 403, "NOT_PRODUCT_OWNER")
    assert_problem(
        await http.patch(url, json={"cost": 50}, headers=buyer), 403, "SELL_SELLERS_ONLY"
    )
    assert_problem(
        await http.post(
            f"{API}/products",
            json={"product_name": "X", "cost": 5, "amount_available": 1},
            headers=buyer,
        ),
        403,
        "SELL_SELLERS_ONLY",
    )
    assert_problem(
        await http.patch(f"{API}/products/no-such-id", json={"cost": 50}, headers=owner),
        404,
        "PRODUCT_NOT_FOUND",
    )
    assert (await http.get(url)).json() == product


async def test_fault_order_role_before_body(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "bert")
    response = await http.post(f"{API}/products", content=b"{not json", headers=buyer)
    assert_problem(response, 403, "SELL_SELLERS_ONLY")
    anonymous = await http.post(f"{API}/products", content=b"{not json")
    assert_problem(anonymous, 401, "UNAUTHORIZED")


async def test_product_validation(http: httpx.AsyncClient) -> None:
    seller = await signed_up(http, "seller", "vera")
    good = {"product_name": "Gum", "cost": 15, "amount_available": 5}
    cases = [
        ({**good, "cost": 7}, 422, "WRONG_COST", "cost"),
        ({**good, "cost": 0}, 422, "BAD_INPUT", "cost"),
        ({**good, "cost": 15.0}, 422, "BAD_INPUT", "cost"),
        ({**good, "cost": "15"}, 422, "BAD_INPUT", "cost"),
        ({**good, "amount_available": True}, 422, "BAD_INPUT", "amount_available"),
        ({**good, "amount_available": -1}, 422, "BAD_INPUT", "amount_available"),
        ({**good, "product_name": ""}, 422, "BAD_INPUT", "product_name"),
        ({**good, "product_name": "Gum\x00"}, 422, "BAD_INPUT", "product_name"),
        ({**good, "product_name": "\x1b[31mGum"}, 422, "BAD_INPUT", "product_name"),
        ({**good, "amount": 5}, 422, "BAD_INPUT", "amount"),
        ({"cost": 15, "amount_available": 5}, 422, "BAD_INPUT", "product_name"),
    ]
    for body, status, code, field in cases:
        response = await http.post(f"{API}/products", json=body, headers=seller)
        assert assert_problem(response, status, code)["field"] == field, body
    listed = await http.get(f"{API}/products")
    assert listed.json()["items"] == []


async def test_product_pages(http: httpx.AsyncClient) -> None:
    first = await signed_up(http, "seller", "pam")
    second = await signed_up(http, "seller", "pat")
    made = [await new_product(http, first, f"p{i}") for i in range(5)]
    theirs = await new_product(http, second, "q")

    seen: list[dict[str, object]] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await http.get(f"{API}/products", params=params)).json()
        seen.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [*made, theirs]
    assert pages == 3

    only_pat = (await http.get(f"{API}/products", params={"seller_id": "seller_pat"})).json()
    assert only_pat == {"items": [theirs], "next_cursor": None}

    for params in ({"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"cursor": "%%%"}):
        response = await http.get(f"{API}/products", params=params)
        problem = assert_problem(response, 422, "BAD_INPUT")
        assert problem["field"] == next(iter(params))


async def test_deposit_buy_reset(http: httpx.AsyncClient) -> None:
    seller = await signed_up(http, "seller", "sam")
    buyer = await signed_up(http, "buyer", "bea")
    product = await new_product(http, seller, "Gum", cost=15, amount=5)

    for coin, total in ((100, 100), (50, 150)):
        response = await http.post(f"{API}/deposit", json={"coin": coin}, headers=buyer)
        assert response.status_code == 200
        assert response.json() == {"deposit": total}
    bought = await http.post(
        f"{API}/buy", json={"product_id": product["id"], "amount": 3}, headers=buyer
    )
    assert bought.status_code == 200, bought.text
    assert bought.json() == {
        "spent": 45,
        "product": {"id": product["id"], "product_name": "Gum", "cost": 15},
        "amount": 3,
        "change": [100, 5],
        "deposit": 0,
    }
    me = (await http.get(f"{API}/users/me", headers=buyer)).json()
    assert me["deposit"] == 0
    left = (await http.get(f"{API}/products/{product['id']}")).json()
    assert left["amount_available"] == 2

    await http.post(f"{API}/deposit", json={"coin": 20}, headers=buyer)
    await http.post(f"{API}/deposit", json={"coin": 10}, headers=buyer)
    reset = await http.post(f"{API}/reset", headers=buyer)
    assert reset.status_code == 200
    assert reset.json() == {"change": [20, 10], "deposit": 0}


async def test_buy_failures(http: httpx.AsyncClient) -> None:
    seller = await signed_up(http, "seller", "stan")
    buyer = await signed_up(http, "buyer", "bree")
    product = await new_product(http, seller, "Tea", cost=50, amount=2)
    empty = await new_product(http, seller, "Air", cost=5, amount=0)

    def buy(product_id: str, amount: int) -> dict[str, object]:
        return {"product_id": product_id, "amount": amount}

    assert_problem(
        await http.post(f"{API}/buy", json=buy(product["id"], 1), headers=buyer),
        409,
        "INSUFFICIENT_DEPOSIT",
    )
    assert_problem(
        await http.post(f"{API}/buy", json=buy(product["id"], 3), headers=buyer),
        409,
        "INSUFFICIENT_STOCK",
    )
    assert_problem(
        await http.post(f"{API}/buy", json=buy(empty["id"], 1), headers=buyer),
        409,
        "EMPTY_STOCK",
    )
    assert_problem(
        await http.post(f"{API}/buy", json=buy("no-such-id", 1), headers=buyer),
        404,
        "PRODUCT_NOT_FOUND",
    )
    invalid = await http.post(f"{API}/buy", json=buy(product["id"], 0), headers=buyer)
    assert assert_problem(invalid, 422, "BAD_INPUT")["field"] == "amount"
    assert_problem(
        await http.post(f"{API}/buy", json=buy(product["id"], 1), headers=seller),
        403,
        "BUY_BUYERS_ONLY",
    )


async def test_deposit_failures(http: httpx.AsyncClient) -> None:
    seller = await signed_up(http, "seller", "sid")
    buyer = await signed_up(http, "buyer", "ben")
    for coin in (3, 25, 0, 5.0, "5", True, None):
        response = await http.post(f"{API}/deposit", json={"coin": coin}, headers=buyer)
        assert assert_problem(response, 422, "WRONG_AMOUNT")["field"] == "coin", coin
    assert_problem(
        await http.post(f"{API}/deposit", json={"coin": 5}, headers=seller),
        403,
        "DEPOSIT_BUYERS_ONLY",
    )
    assert_problem(await http.post(f"{API}/reset", headers=seller), 403, "RESET_BUYERS_ONLY")
    assert_problem(await http.post(f"{API}/deposit", json={"coin": 5}), 401, "UNAUTHORIZED")
    assert (await http.get(f"{API}/users/me", headers=buyer)).json()["deposit"] == 0
