"""REST API: users and sessions."""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.rest_client import (
    API,
    PASSWORD,
    assert_problem,
    bearer,
    create_user,
    login,
    signed_up,
)
from tests.e2e.seed_client import SeedClient


async def test_create_user_returns_account(http: httpx.AsyncClient) -> None:
    body = await create_user(http, "buyer", "alice")
    assert body == {"id": "buyer_alice", "username": "alice", "role": "buyer", "deposit": 0}


async def test_create_user_does_not_sign_in(http: httpx.AsyncClient) -> None:
    await create_user(http, "seller", "sally")
    first = await login(http, "seller", "sally")
    assert first["active_sessions"] == 1
    assert "message" not in first


async def test_duplicate_user_is_409(http: httpx.AsyncClient) -> None:
    await create_user(http, "buyer", "bob")
    response = await http.post(
        f"{API}/users", json={"username": "bob", "password": PASSWORD, "role": "buyer"}
    )
    assert_problem(response, 409, "DUPLICATE_USERNAME")
    other_role = await http.post(
        f"{API}/users", json={"username": "bob", "password": PASSWORD, "role": "seller"}
    )
    assert other_role.status_code == 201


async def test_create_user_validation(http: httpx.AsyncClient) -> None:
    cases = [
        ({"username": "ab", "password": PASSWORD, "role": "buyer"}, "username"),
        ({"username": "a b c", "password": PASSWORD, "role": "buyer"}, "username"),
        ({"username": "carol", "password": PASSWORD, "role": "admin"}, "role"),
        ({"username": "carol", "password": "", "role": "buyer"}, "password"),
        ({"username": "carol", "password": PASSWORD}, "role"),
        ({"username": "carol", "password": PASSWORD, "role": "buyer", "admin": True}, "admin"),
        ({"username": 5, "password": PASSWORD, "role": "buyer"}, "username"),
    ]
    for body, field in cases:
        response = await http.post(f"{API}/users", json=body)
        problem = assert_problem(response, 422, "BAD_INPUT")
        assert problem["field"] == field, body
        assert field in problem["detail"], body


async def test_short_password_names_rule(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{API}/users", json={"username": "dave", "password": "ab", "role": "buyer"}
    )
    problem = assert_problem(response, 422, "BAD_INPUT")
    assert problem["field"] == "password"
    assert "3 to 128 characters" in problem["detail"]


async def test_me_needs_token(http: httpx.AsyncClient) -> None:
    missing = await http.get(f"{API}/users/me")
    assert_problem(missing, 401, "UNAUTHORIZED")
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong_scheme = await http.get(f"{API}/users/me", headers={"Authorization": "Basic eDp5"})
    assert_problem(wrong_scheme, 401, "UNAUTHORIZED")
    unknown = await http.get(f"{API}/users/me", headers=bearer("not-a-token"))
    assert_problem(unknown, 401, "UNAUTHORIZED")


async def test_me_returns_account(http: httpx.AsyncClient) -> None:
    headers = await signed_up(http, "buyer", "erin")
    response = await http.get(f"{API}/users/me", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "id": "buyer_erin",
        "username": "erin",
        "role": "buyer",
        "deposit": 0,
    }


async def test_change_password(http: httpx.AsyncClient) -> None:
    headers = await signed_up(http, "buyer", "fred")
    wrong = await http.patch(
        f"{API}/users/me",
        json={"current_password": "not-it", "password": "new-secret"},
        headers=headers,
    )
    assert_problem(wrong, 403, "INVALID_PASSWORD")
    short = await http.patch(
        f"{API}/users/me", json={"current_password": PASSWORD, "password": "x"}, headers=headers
    )
    assert assert_problem(short, 422, "BAD_INPUT")["field"] == "password"

    changed = await http.patch(
        f"{API}/users/me",
        json={"current_password": PASSWORD, "password": "new-secret"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["id"] == "buyer_fred"
    await login(http, "buyer", "fred", "new-secret")
    old = await http.post(
        f"{API}/auth/login", json={"username": "fred", "password": PASSWORD, "role": "buyer"}
    )
    assert_problem(old, 401, "INVALID_CREDENTIALS")


async def test_delete_me_returns_coins(http: httpx.AsyncClient) -> None:
    headers = await signed_up(http, "buyer", "gina")
    for coin in (100, 20, 5):
        deposit = await http.post(f"{API}/deposit", json={"coin": coin}, headers=headers)
        assert deposit.status_code == 200
    deleted = await http.delete(f"{API}/users/me", headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": "buyer_gina", "change": [100, 20, 5]}

    gone = await http.get(f"{API}/users/me", headers=headers)
    assert_problem(gone, 401, "UNAUTHORIZED")
    again = await http.post(
        f"{API}/users", json={"username": "gina", "password": PASSWORD, "role": "buyer"}
    )
    assert_problem(again, 409, "DUPLICATE_USERNAME")


async def test_delete_seller_removes_products(http: httpx.AsyncClient) -> None:
    seller = await signed_up(http, "seller", "hank")
    created = await http.post(
        f"{API}/products",
        json={"product_name": "Tea", "cost": 50, "amount_available": 3},
        headers=seller,
    )
    product_id = created.json()["id"]
    assert (await http.delete(f"{API}/users/me", headers=seller)).status_code == 200
    assert_problem(await http.get(f"{API}/products/{product_id}"), 404, "PRODUCT_NOT_FOUND")


async def test_login_failures_look_alike(http: httpx.AsyncClient) -> None:
    await create_user(http, "buyer", "ivan")
    attempts = [
        {"username": "ivan", "password": "wrong-pw", "role": "buyer"},
        {"username": "ivan", "password": PASSWORD, "role": "seller"},
        {"username": "nobody", "password": PASSWORD, "role": "buyer"},
        {"username": "x", "password": PASSWORD, "role": "buyer"},
    ]
    bodies = []
    for attempt in attempts:
        response = await http.post(f"{API}/auth/login", json=attempt)
        body = assert_problem(response, 401, "INVALID_CREDENTIALS")
        body.pop("req_id")
        bodies.append(body)
    assert all(body == bodies[0] for body in bodies)
    assert PASSWORD not in str(bodies)


async def test_second_login_has_message(http: httpx.AsyncClient) -> None:
    await create_user(http, "buyer", "judy")
    first = await login(http, "buyer", "judy")
    second = await login(http, "buyer", "judy")
    assert first["token_type"] == "bearer"
    assert first["active_sessions"] == 1
    assert second["active_sessions"] == 2
    assert second["message"] == "There is already an active session using your account"
    assert first["access_token"] != second["access_token"]


async def test_logout_ends_only_current_token(http: httpx.AsyncClient) -> None:
    await create_user(http, "buyer", "karl")
    first = bearer((await login(http, "buyer", "karl"))["access_token"])
    second = bearer((await login(http, "buyer", "karl"))["access_token"])
    response = await http.post(f"{API}/auth/logout", headers=first)
    assert response.status_code == 204
    assert_problem(await http.get(f"{API}/users/me", headers=first), 401, "UNAUTHORIZED")
    assert (await http.get(f"{API}/users/me", headers=second)).status_code == 200


async def test_logout_all_ends_every_session(
    http: httpx.AsyncClient, transport: httpx.ASGITransport
) -> None:
    await create_user(http, "buyer", "lena")
    first = bearer((await login(http, "buyer", "lena"))["access_token"])
    assert (await http.get(f"{API}/users/me", headers=first)).status_code == 200
    seed = SeedClient(transport)
    try:
        assert "token" in await seed.sign("buyer", "lena", PASSWORD)
        assert (await seed.call("/profile"))["uid"] == "buyer_lena"
        second = bearer((await login(http, "buyer", "lena"))["access_token"])

        ended = await http.post(f"{API}/auth/logout/all", headers=second)
        assert ended.status_code == 200, ended.text
        assert ended.json() == {"ended": 3}
        assert_problem(await http.get(f"{API}/users/me", headers=first), 401, "UNAUTHORIZED")
        assert_problem(await http.get(f"{API}/users/me", headers=second), 401, "UNAUTHORIZED")
        # The seed session's token has ended, so reads with it are rejected at once.
        assert await seed.call("/profile") == {"error": "UNAUTHORIZED"}
    finally:
        await seed.close()


async def test_failed_logins_are_limited(http: httpx.AsyncClient) -> None:
    await create_user(http, "buyer", "mona")
    wrong = {"username": "mona", "password": "wrong-pw", "role": "buyer"}
    for _ in range(5):
        assert_problem(await http.post(f"{API}/auth/login", json=wrong), 401, "INVALID_CREDENTIALS")
    limited = await http.post(
        f"{API}/auth/login", json={"username": "mona", "password": PASSWORD, "role": "buyer"}
    )
    assert_problem(limited, 429, "TOO_MANY_ATTEMPTS")
    assert int(limited.headers["retry-after"]) > 0
    other = await http.post(
        f"{API}/users", json={"username": "nina", "password": PASSWORD, "role": "buyer"}
    )
    assert other.status_code == 201
    await login(http, "buyer", "nina")


async def test_concurrent_failed_logins_are_limited(http: httpx.AsyncClient) -> None:
    await create_user(http, "buyer", "olga")
    wrong = [{"username": "olga", "password": f"wrong-pw-{i}", "role": "buyer"} for i in range(20)]

    responses = await asyncio.gather(*(http.post(f"{API}/auth/login", json=w) for w in wrong))

    codes = [response.json()["code"] for response in responses]
    assert codes.count("INVALID_CREDENTIALS") == 5
    assert codes.count("TOO_MANY_ATTEMPTS") == 15
    limited = await http.post(
        f"{API}/auth/login", json={"username": "olga", "password": PASSWORD, "role": "buyer"}
    )
    assert_problem(limited, 429, "TOO_MANY_ATTEMPTS")
