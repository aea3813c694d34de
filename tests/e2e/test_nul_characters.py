"""NUL characters in ids from clients: PostgreSQL text cannot hold them, SQLite can.

On both profiles such an id is simply unknown, and no response is a server error.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.e2e.seed_client import SeedClient

NUL_ID = "a\u0000b"


async def test_seed_ids_with_nul(seed_client: Callable[[], SeedClient]) -> None:
    buyer = seed_client()
    await buyer.sign("new_buyer", "nulla")

    assert await buyer.call("/req_status", req_id=NUL_ID) == {"error": "status unavailable"}
    bought = await buyer.do("/buy", product_uid=NUL_ID, amount=1)
    assert bought["failed"] == "PRODUCT_NOT_FOUND"
    assert await buyer.call("/products", {"uid": NUL_ID}) == []


async def test_seed_session_id_with_nul(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    answer = await client.call("/user", {"token": "get", "wsess_id": NUL_ID})
    assert answer == {"error": "TIMEOUT"}


async def test_rest_ids_with_nul(transport: httpx.ASGITransport) -> None:
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        product = await http.get("/api/v1/products/a%00b")
        assert product.status_code == 404
        listing = await http.get("/api/v1/products", params={"seller_id": NUL_ID})
        assert listing.status_code == 200
        assert listing.json()["items"] == []
        login = await http.post(
            "/api/v1/auth/login",
            json={"username": NUL_ID, "password": "secret-pw", "role": "buyer"},
        )
        assert login.status_code == 401
