"""Helpers for REST API tests: sign-up and login over HTTP, and bearer headers."""

from __future__ import annotations

from typing import Any

import httpx

API = "/api/v1"
PASSWORD = "secret-pw"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_user(http: httpx.AsyncClient, role: str, username: str) -> dict[str, Any]:
    """Create a user and return the 201 body."""
    response = await http.post(
        f"{API}/users", json={"username": username, "password": PASSWORD, "role": role}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(
    http: httpx.AsyncClient, role: str, username: str, password: str = PASSWORD
) -> dict[str, Any]:
    """Log in and return the 200 body."""
    response = await http.post(
        f"{API}/auth/login", json={"username": username, "password": password, "role": role}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def signed_up(http: httpx.AsyncClient, role: str, username: str) -> dict[str, str]:
    """Create a user, log in, and return the bearer header of the new token."""
    await create_user(http, role, username)
    return bearer((await login(http, role, username))["access_token"])


async def new_product(
    http: httpx.AsyncClient,
    seller: dict[str, str],
    name: str = "Cola",
    cost: int = 35,
    amount: int = 10,
) -> dict[str, Any]:
    """Create a product as `seller` and return it."""
    response = await http.post(
        f"{API}/products",
        json={"product_name": name, "cost": cost, "amount_available": amount},
        headers=seller,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check that `response` is an RFC 9457 problem with `status` and `code`; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"]
    assert body["detail"]
    return body
