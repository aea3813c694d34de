"""Seed-protocol responses on the routes that the raw ASGI fast path serves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.e2e.seed_client import SeedClient

FAST_ROUTES = ["/deposit", "/sell", "/buy", "/reset", "/req_status", "/profile", "/products"]


@pytest.fixture
async def http(transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("path", FAST_ROUTES)
async def test_invalid_json_names_the_fault(http: httpx.AsyncClient, path: str) -> None:
    response = await http.post(path, content=b"{not json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"].startswith("invalid JSON: ")


@pytest.mark.parametrize("body", [b"null", b"0", b'"str"', b"[1]"])
async def test_body_must_be_object(http: httpx.AsyncClient, body: bytes) -> None:
    response = await http.put("/deposit", content=body)
    assert response.json() == {"error": "body must be a JSON object"}


async def test_unknown_key_rejected(http: httpx.AsyncClient) -> None:
    response = await http.post("/buy", json={"token": "t", "colour": "red"})
    assert response.json() == {"error": "data key 'colour' not allowed"}


async def test_body_too_large_by_length(http: httpx.AsyncClient) -> None:
    response = await http.post("/deposit", content=b" " * (64 * 1024 + 1))
    assert response.json() == {"error": "body too large"}


async def test_body_too_large_when_chunked(http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b" " * (16 * 1024)

    response = await http.put("/deposit", content=chunks())
    assert response.json() == {"error": "body too large"}


async def test_chunked_body_is_read_whole(http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"amount": '
        yield b"5}"

    response = await http.put("/deposit", content=chunks())
    assert response.json() == {"error": "UNAUTHORIZED"}


async def test_missing_token_unauthorized(http: httpx.AsyncClient) -> None:
    response = await http.post("/deposit", json={"wsess_id": "x", "amount": 5})
    assert response.json() == {"error": "UNAUTHORIZED"}


async def test_empty_body_allowed_on_products(http: httpx.AsyncClient) -> None:
    response = await http.get("/products")
    assert response.status_code == 200
    assert response.json() == []


async def test_method_outside_protocol_goes_to_starlette(http: httpx.AsyncClient) -> None:
    response = await http.request("PROPFIND", "/deposit")
    assert response.status_code == 405


async def test_unknown_route_has_no_content(http: httpx.AsyncClient) -> None:
    response = await http.post("/nowhere", json={})
    assert response.status_code == 204
    assert response.content == b""


async def test_session_cookie_names_the_caller(
    seed_client: Callable[[], SeedClient], http: httpx.AsyncClient
) -> None:
    buyer = seed_client()
    assert "token" in await buyer.sign("new_buyer", "cora")
    assert buyer.wsess_id is not None

    response = await http.post(
        "/deposit",
        json={"token": buyer.token, "amount": 10},
        headers={"cookie": f"wsess_id={buyer.wsess_id}"},
    )
    req_id = response.json()["req_id"]
    status = await buyer.status(req_id)
    assert status == {"success": "deposit: +10"}

    profile = await http.post(
        "/profile", json={"token": buyer.token}, headers={"cookie": f"wsess_id={buyer.wsess_id}"}
    )
    assert profile.json()["deposit"] == 10


async def test_status_of_other_session_unavailable(seed_client: Callable[[], SeedClient]) -> None:
    owner, other = seed_client(), seed_client()
    await owner.sign("new_buyer", "olga")
    await other.sign("new_buyer", "otto")
    answer = await owner.call("/deposit", amount=5)
    assert await owner.status(answer["req_id"]) == {"success": "deposit: +5"}
    assert await other.call("/req_status", req_id=answer["req_id"]) == {
        "error": "status unavailable"
    }
    assert await other.call("/req_status", req_id=5) == {"error": "status unavailable"}


async def test_wrong_token_unauthorized_on_reads(seed_client: Callable[[], SeedClient]) -> None:
    buyer = seed_client()
    await buyer.sign("new_buyer", "wade")
    answer = await buyer.call("/profile", {"wsess_id": buyer.wsess_id, "token": "not-the-token"})
    assert answer == {"error": "UNAUTHORIZED"}
