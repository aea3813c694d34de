"""Responses the seed gateway returns at once: routing, body checks and UNAUTHORIZED."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.e2e.seed_client import SeedClient

ROUTES = ["/user", "/deposit", "/sell", "/buy", "/reset", "/req_status", "/profile", "/products"]
LIMIT = 64 * 1024


@pytest.fixture
async def http(transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("path", ["/nope", "/user/", "/USER", "/products/1", "/buy/x"])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "TRACE"])
async def test_unknown_route_is_204(http: httpx.AsyncClient, path: str, method: str) -> None:
    response = await http.request(method, path, content=b'{"token": "get"}')
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    "method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
)
async def test_any_method_reaches_route(http: httpx.AsyncClient, method: str) -> None:
    response = await http.request(method, "/products", content=b"{}")
    assert response.status_code == 200
    assert response.json() == []


async def test_put_with_chunked_body(http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"token": "new_'
        yield b'buyer", "username": "chunky", '
        yield b'"password": "secret-pw"}'

    response = await http.put("/user", content=chunks())
    assert response.status_code == 200
    assert "wsess_id" in response.json()
    assert "content-length" not in response.request.headers


async def test_content_type_is_not_checked(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/products", content=b'{"uid": "seller_x"}', headers={"content-type": "text/plain"}
    )
    assert response.json() == []


@pytest.mark.parametrize("path", ROUTES)
async def test_body_too_large(http: httpx.AsyncClient, path: str) -> None:
    body = json.dumps({"username": "x" * LIMIT}).encode()
    response = await http.post(path, content=body)
    assert response.status_code == 200
    assert response.json() == {"error": "body too large"}


async def test_body_too_large_without_length(http: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"username": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    response = await http.put("/user", content=chunks())
    assert response.json() == {"error": "body too large"}


async def test_body_at_limit_is_read(http: httpx.AsyncClient) -> None:
    prefix, suffix = b'{"uid": "', b'"}'
    body = prefix + b"s" * (LIMIT - len(prefix) - len(suffix)) + suffix
    assert len(body) == LIMIT
    response = await http.post("/products", content=body)
    assert response.json() == []


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("raw", [b"{bad", b'{"token": }', b"\xff\xfe", b'{"a": 1'])
async def test_invalid_json(http: httpx.AsyncClient, path: str, raw: bytes) -> None:
    response = await http.post(path, content=raw)
    assert response.status_code == 200
    answer = response.json()
    assert list(answer) == ["error"]
    assert answer["error"].startswith("invalid JSON")


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("field", ["username", "amount", "product_uid"])
async def test_deeply_nested_json(http: httpx.AsyncClient, path: str, field: str) -> None:
    depth = 5000
    raw = f'{{"{field}": {"[" * depth}{"]" * depth}}}'.encode()
    assert len(raw) < LIMIT
    response = await http.post(path, content=raw)
    assert response.status_code == 200
    assert response.json() == {"error": "invalid JSON: nested too deeply"}


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("raw", [b"null", b"0", b'"str"', b"[1]", b"true", b"[]"])
async def test_body_must_be_object(http: httpx.AsyncClient, path: str, raw: bytes) -> None:
    response = await http.post(path, content=raw)
    assert response.json() == {"error": "body must be a JSON object"}


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("key", ["x", "Token", "price", "wsess_uid"])
async def test_unknown_key_rejected(http: httpx.AsyncClient, path: str, key: str) -> None:
    response = await http.post(path, json={"token": "get", key: 1})
    assert response.json() == {"error": f"data key '{key}' not allowed"}


async def test_error_message_is_valid_json_for_quoted_key(http: httpx.AsyncClient) -> None:
    response = await http.post("/user", content=b'{"a\\"b": 1}')
    assert response.json() == {"error": "data key 'a\"b' not allowed"}


@pytest.mark.parametrize("path", ["/deposit", "/sell", "/buy", "/reset"])
async def test_queued_route_without_token_or_session(
    seed_client: Callable[[], SeedClient], path: str
) -> None:
    client = seed_client()
    started = time.monotonic()
    assert await client.call(path, {}) == {"error": "UNAUTHORIZED"}
    assert await client.call(path, {"token": "t"}) == {"error": "UNAUTHORIZED"}

    await client.sign("new_buyer", "nobody")
    assert await client.call(path, {"amount": 5}) == {"error": "UNAUTHORIZED"}
    assert await client.call(path, {"token": "", "amount": 5}) == {"error": "UNAUTHORIZED"}
    assert time.monotonic() - started < 1.0


async def test_unknown_user_action(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    for action in ["admin", "", None, 5, "GET"]:
        assert await client.call("/user", {"token": action}) == {"error": "BAD_INPUT"}
    assert await client.call("/user", {}) == {"error": "BAD_INPUT"}
