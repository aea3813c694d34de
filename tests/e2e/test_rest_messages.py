"""REST API: a 422 problem states the broken rule in words and names the field.

The test settings set the password minimum length to 3.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.rest_client import API, PASSWORD, assert_problem, signed_up

USERNAME_RULE = "username must be 3 to 32 characters of ASCII letters, digits, '_', '.' or '-'"
PASSWORD_RULE = "password must be 3 to 128 characters long"


def assert_plain(problem: dict[str, Any], field: str) -> None:
    """Check that a detail names `field` and shows none of msgspec's schema notation."""
    detail = problem["detail"]
    assert problem["field"] == field, problem
    assert field in detail, detail
    assert "\\" not in detail, detail
    assert "`" not in detail, detail
    assert "regex" not in detail, detail
    assert ">=" not in detail, detail
    assert "<=" not in detail, detail


async def test_bad_username_states_rule(http: httpx.AsyncClient) -> None:
    for username in ("a b", "ab", "x" * 33, "caf\N{LATIN SMALL LETTER E WITH ACUTE}"):
        response = await http.post(
            f"{API}/users", json={"username": username, "password": PASSWORD, "role": "buyer"}
        )
        problem = assert_problem(response, 422, "BAD_INPUT")
        assert_plain(problem, "username")
        assert problem["detail"] == USERNAME_RULE


async def test_password_lengths_share_rule(http: httpx.AsyncClient) -> None:
    for password in ("", "a", "ab", "p" * 129):
        response = await http.post(
            f"{API}/users", json={"username": "petra", "password": password, "role": "buyer"}
        )
        problem = assert_problem(response, 422, "BAD_INPUT")
        assert_plain(problem, "password")
        assert problem["detail"] == PASSWORD_RULE, password


async def test_new_password_states_rule(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "nadia")
    for password in ("", "a"):
        response = await http.patch(
            f"{API}/users/me",
            json={"current_password": PASSWORD, "password": password},
            headers=buyer,
        )
        problem = assert_problem(response, 422, "BAD_INPUT")
        assert_plain(problem, "password")
        assert problem["detail"] == PASSWORD_RULE, password


async def test_product_fields_state_rules(http: httpx.AsyncClient) -> None:
    seller = await signed_up(http, "seller", "rules")
    good = {"product_name": "Gum", "cost": 15, "amount_available": 5}
    cases = [
        ({**good, "product_name": ""}, "product_name", "1 to 64 characters"),
        ({**good, "product_name": "G" * 65}, "product_name", "1 to 64 characters"),
        ({**good, "product_name": "Gum\x1b"}, "product_name", "no control characters"),
        ({**good, "cost": 0}, "cost", "from 5 to 1000000"),
        ({**good, "cost": "15"}, "cost", "whole number of cents"),
        ({**good, "amount_available": -1}, "amount_available", "from 0 to 1000000000"),
    ]
    for body, field, rule in cases:
        response = await http.post(f"{API}/products", json=body, headers=seller)
        problem = assert_problem(response, 422, "BAD_INPUT")
        assert_plain(problem, field)
        assert rule in problem["detail"], body


async def test_buy_fields_state_rules(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "bruno")
    cases = [
        ({"product_id": "", "amount": 1}, "product_id", "1 to 64 characters"),
        ({"product_id": "p" * 65, "amount": 1}, "product_id", "1 to 64 characters"),
        ({"product_id": "p", "amount": 0}, "amount", "from 1 to 1000000000"),
    ]
    for body, field, rule in cases:
        response = await http.post(f"{API}/buy", json=body, headers=buyer)
        problem = assert_problem(response, 422, "BAD_INPUT")
        assert_plain(problem, field)
        assert rule in problem["detail"], body

    coin = await http.post(f"{API}/deposit", json={"coin": 3}, headers=buyer)
    problem = assert_problem(coin, 422, "WRONG_AMOUNT")
    assert_plain(problem, "coin")
    assert "5, 10, 20, 50 or 100" in problem["detail"]


async def test_missing_and_unknown_fields(http: httpx.AsyncClient) -> None:
    missing = await http.post(f"{API}/users", json={"username": "mia", "password": PASSWORD})
    problem = assert_problem(missing, 422, "BAD_INPUT")
    assert_plain(problem, "role")
    assert problem["detail"] == "missing field 'role': role must be 'buyer' or 'seller'"

    unknown = await http.post(
        f"{API}/users",
        json={"username": "mia", "password": PASSWORD, "role": "buyer", "admin": True},
    )
    problem = assert_problem(unknown, 422, "BAD_INPUT")
    assert_plain(problem, "admin")
    assert problem["detail"] == (
        "unknown field 'admin': the body may contain only username, password, role"
    )


async def test_login_rules_allow_old_accounts(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{API}/auth/login", json={"username": "u" * 65, "password": PASSWORD, "role": "buyer"}
    )
    problem = assert_problem(response, 422, "BAD_INPUT")
    assert_plain(problem, "username")
    assert problem["detail"] == "username must be at most 64 characters"


async def test_idempotency_key_length_rule(http: httpx.AsyncClient) -> None:
    buyer = await signed_up(http, "buyer", "ivo")
    for key in ("", "k" * 256):
        response = await http.post(
            f"{API}/deposit", json={"coin": 5}, headers={**buyer, "Idempotency-Key": key}
        )
        problem = assert_problem(response, 422, "BAD_INPUT")
        assert problem["field"] == "Idempotency-Key"
        assert problem["detail"] == "Idempotency-Key must be 1 to 255 characters"
