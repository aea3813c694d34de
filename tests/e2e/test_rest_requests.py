"""REST API: async mode, request states, idempotency keys and protocol-level errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.conftest import FAST_HASHING
from tests.e2e.rest_client import API, PASSWORD, assert_problem, new_product, signed_up
from vending.runtime import embedded_app
from vending.settings import Settings

ASYNC = {"Prefer": "respond-async"}


async def poll(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> dict[str, object]:
    """Read a request's state until it is no longer queued (at most 3 s)."""
    for _ in range(300):
        body: dict[str, object] = (await http.get(url, headers=headers)).json()
        if body["state"] != "queued":
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"{url} still queued after 3 s")


async def test_async_mode_returns_202(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "ann")
    response = await http.post(f"{API}/deposit", json={"coin": 20}, headers={**buyer, **ASYNC})
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "queued"
    assert response.headers["location"] == f"{API}/requests/{body['req_id']}"
    assert response.headers["preference-applied"] == "respond-async"

    done = await poll(http, response.headers["location"], buyer)
    assert done == {"req_id": body["req_id"], "state": "done", "result": {"deposit": 20}}


async def test_async_failure_has_problem(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "abe")
    response = await http.post(
        f"{API}/buy", json={"product_id": "missing", "amount": 1}, headers={**buyer, **ASYNC}
    )
    assert response.status_code == 202
    failed = await poll(http, response.headers["location"], buyer)
    assert failed["state"] == "failed"
    error = failed["error"]
    assert isinstance(error, dict)
    assert error["status"] == 404
    assert error["code"] == "PRODUCT_NOT_FOUND"


async def test_other_users_request_is_404(http: httpx.AsyncClient) -> None:
    owner = await signed_up(http, "buyer", "amy")
    other = await signed_up(http, "buyer", "ada")
    response = await http.post(f"{API}/deposit", json={"coin": 5}, headers={**owner, **ASYNC})
    url = response.headers["location"]
    await poll(http, url, owner)
    assert_problem(await http.get(url, headers=other), 404, "NOT_FOUND")
    assert_problem(await http.get(f"{API}/requests/1.nothing", headers=owner), 404, "NOT_FOUND")
    assert_problem(await http.get(url), 401, "UNAUTHORIZED")


async def test_idempotent_retry_applies_once(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "ida")
    headers = {**buyer, "Idempotency-Key": "deposit-1"}
    first = await http.post(f"{API}/deposit", json={"coin": 50}, headers=headers)
    retry = await http.post(f"{API}/deposit", json={"coin": 50}, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json() == {"deposit": 50}
    assert (await http.get(f"{API}/users/me", headers=buyer)).json()["deposit"] == 50

    other_key = await http.post(
        f"{API}/deposit", json={"coin": 50}, headers={**buyer, "Idempotency-Key": "deposit-2"}
    )
    assert other_key.json() == {"deposit": 100}


async def test_idempotent_retry_repeats_failure(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "iris")
    seller = await signed_up(http, "seller", "ivo")
    product = await new_product(http, seller, cost=50, amount=5)
    headers = {**buyer, "Idempotency-Key": "buy-1"}
    body = {"product_id": product["id"], "amount": 1}
    first = await http.post(f"{API}/buy", json=body, headers=headers)
    assert_problem(first, 409, "INSUFFICIENT_DEPOSIT")
    await http.post(f"{API}/deposit", json={"coin": 50}, headers=buyer)
    retry = await http.post(f"{API}/buy", json=body, headers=headers)
    assert retry.status_code == 409
    assert retry.json() == first.json()
    assert (await http.get(f"{API}/users/me", headers=buyer)).json()["deposit"] == 50


async def test_idempotent_concurrent_calls(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "ike")
    headers = {**buyer, "Idempotency-Key": "same"}
    responses = await asyncio.gather(
        *(http.post(f"{API}/deposit", json={"coin": 10}, headers=headers) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [200] * 5
    assert [r.json() for r in responses] == [{"deposit": 10}] * 5
    assert (await http.get(f"{API}/users/me", headers=buyer)).json()["deposit"] == 10


async def test_idempotency_key_other_body_is_422(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "ina")
    headers = {**buyer, "Idempotency-Key": "k"}
    assert (await http.post(f"{API}/deposit", json={"coin": 5}, headers=headers)).status_code == 200
    other = await http.post(f"{API}/deposit", json={"coin": 10}, headers=headers)
    assert assert_problem(other, 422, "IDEMPOTENCY_KEY_REUSED")["field"] == "Idempotency-Key"
    assert (await http.get(f"{API}/users/me", headers=buyer)).json()["deposit"] == 5


async def test_idempotency_key_is_per_path_and_user(http: httpx.AsyncClient) -> None:
    first = await signed_up(http, "buyer", "jan")
    second = await signed_up(http, "buyer", "joe")
    key = {"Idempotency-Key": "shared"}
    assert (
        await http.post(f"{API}/deposit", json={"coin": 5}, headers={**first, **key})
    ).json() == {"deposit": 5}
    assert (
        await http.post(f"{API}/deposit", json={"coin": 5}, headers={**second, **key})
    ).json() == {"deposit": 5}
    reset = await http.post(f"{API}/reset", headers={**first, **key})
    assert reset.json() == {"change": [5], "deposit": 0}


async def test_malformed_json_is_400(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "mal")
    for raw in (b"{", b"", b"coin=5", b'{"coin": 5,}'):
        response = await http.post(f"{API}/deposit", content=raw, headers=buyer)
        assert_problem(response, 400, "MALFORMED_JSON")
    not_object = await http.post(f"{API}/deposit", content=b"[5]", headers=buyer)
    assert_problem(not_object, 422, "BAD_INPUT")


async def test_body_over_64_kib_is_413(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "big")
    body = b'{"coin": 5, "pad": "' + b"x" * (64 * 1024) + b'"}'
    assert_problem(
        await http.post(f"{API}/deposit", content=body, headers=buyer), 413, "BODY_TOO_LARGE"
    )

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(70):
            yield b" " * 1024

    streamed = await http.post(f"{API}/deposit", content=chunks(), headers=buyer)
    assert_problem(streamed, 413, "BODY_TOO_LARGE")


async def test_unknown_paths_and_methods(http: httpx.AsyncClient) -> None:
    for path in (f"{API}/nothing", f"{API}", f"{API}/products/x/y"):
        assert_problem(await http.get(path), 404, "NOT_FOUND")
    wrong = await http.delete(f"{API}/deposit")
    assert_problem(wrong, 405, "METHOD_NOT_ALLOWED")
    assert wrong.headers["allow"] == "POST"
    for method in ("TRACE", "CONNECT"):
        other = await http.request(method, f"{API}/deposit")
        assert_problem(other, 405, "METHOD_NOT_ALLOWED")
        assert_problem(await http.request(method, f"{API}/nothing"), 404, "NOT_FOUND")
    seed_other = await http.get("/something-else")
    assert seed_other.status_code == 204


async def test_health_and_docs(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).status_code == 200
    document = (await http.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) >= {f"{API}/deposit", f"{API}/buy", f"{API}/products/{{id}}"}
    docs = await http.get("/docs")
    assert docs.status_code == 200
    assert "/openapi.json" in docs.text
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js"):
        assert (await http.get(f"/docs/static/{asset}")).status_code == 200


@pytest.fixture
def no_wait_settings(tmp_path: Path) -> Settings:
    return Settings(
        database=f"sqlite:///{tmp_path / 'vending.db'}",
        purge_interval_seconds=3600,
        request_wait_seconds=0,
        **FAST_HASHING,  # type: ignore[arg-type]
    )


async def test_wait_timeout(no_wait_settings: Settings) -> None:
    """With no time to wait, changes return 202 and sign-ups 503 with Retry-After."""
    application = embedded_app(no_wait_settings)
    async with (
        LifespanManager(application) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app),  # type: ignore[arg-type]
            base_url="http://test",
        ) as http,
    ):
        created = await http.post(
            f"{API}/users", json={"username": "tim", "password": PASSWORD, "role": "buyer"}
        )
        assert_problem(created, 503, "TIMEOUT")
        assert created.headers["retry-after"] == "1"
        await asyncio.sleep(0.2)
        login = await http.post(
            f"{API}/auth/login", json={"username": "tim", "password": PASSWORD, "role": "buyer"}
        )
        assert_problem(login, 503, "TIMEOUT")


async def test_cors_off_by_default(http: httpx.AsyncClient) -> None:
    response = await http.options(
        f"{API}/products",
        headers={"Origin": "http://elsewhere.test", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers


async def test_cors_when_configured(tmp_path: Path) -> None:
    settings = Settings(
        database=f"sqlite:///{tmp_path / 'vending.db'}",
        cors_origins=["http://shop.test"],
        **FAST_HASHING,  # type: ignore[arg-type]
    )
    application = embedded_app(settings)
    async with (
        LifespanManager(application) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app),  # type: ignore[arg-type]
            base_url="http://test",
        ) as http,
    ):
        response = await http.get(f"{API}/products", headers={"Origin": "http://shop.test"})
        assert response.headers["access-control-allow-origin"] == "http://shop.test"
        other = await http.get(f"{API}/products", headers={"Origin": "http://evil.test"})
        assert "access-control-allow-origin" not in other.headers
