"""/user: register, log in, read the token, log out, and the web session rules."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.seed_client import SeedClient
from tests.ledger import dump_tables
from vending.settings import Settings


def sign_up(username: str, password: str = "secret-pw", role: str = "buyer") -> dict[str, str]:
    return {"token": f"new_{role}", "username": username, "password": password}


def log_in(username: str, password: str = "secret-pw", role: str = "buyer") -> dict[str, str]:
    return {"token": role, "username": username, "password": password}


async def get(client: SeedClient) -> object:
    return await client.call("/user", {"token": "get"})


async def test_cookie_attributes(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    response = await client.http.post("/user", json={"token": "get"})
    (cookie,) = response.headers.get_list("set-cookie")
    attributes = [part.strip().lower() for part in cookie.split(";")]

    assert attributes[0].startswith("wsess_id=")
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "max-age=604800" in attributes
    assert "httponly" not in attributes
    assert all(not part.startswith("domain") for part in attributes)


async def test_user_issues_session_once(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    first = await client.call("/user", sign_up("carol"))
    second = await client.call("/user", log_in("carol"))
    assert first["wsess_id"] == second["wsess_id"]
    assert client.http.cookies["wsess_id"] == first["wsess_id"]


async def test_user_adopts_only_issued_ids(seed_client: Callable[[], SeedClient]) -> None:
    owner, other = seed_client(), seed_client()
    issued = (await owner.call("/user", sign_up("dave")))["wsess_id"]

    chosen = await other.call("/user", {**sign_up("erin"), "wsess_id": "attacker-chosen"})
    assert chosen["wsess_id"] != "attacker-chosen"
    assert other.http.cookies["wsess_id"] == chosen["wsess_id"]

    adopted = await other.call("/user", {"token": "get", "wsess_id": issued})
    assert "token" in adopted
    assert other.http.cookies["wsess_id"] == issued


async def test_body_session_beats_cookie(seed_client: Callable[[], SeedClient]) -> None:
    alice, bob = seed_client(), seed_client()
    await alice.sign("new_buyer", "alice")
    await bob.sign("new_buyer", "bobby")
    assert alice.wsess_id is not None

    profile = await bob.call("/profile", {"token": alice.token, "wsess_id": alice.wsess_id})
    assert profile["uid"] == "buyer_alice"


async def test_unissued_session_reads_time_out(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    started = time.monotonic()
    answer = await client.call("/profile", {"token": "t", "wsess_id": "never-issued"})
    elapsed = time.monotonic() - started
    assert answer == {"error": "TIMEOUT"}
    assert 0.9 < elapsed < 2.0


async def test_get_without_sign_in_times_out(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    started = time.monotonic()
    assert await get(client) == {"error": "TIMEOUT"}
    assert 0.9 < time.monotonic() - started < 2.0


async def test_register_then_get_returns_token(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    await client.call("/user", sign_up("fay"))
    answer = await get(client)
    assert set(answer) == {"token"}
    assert len(answer["token"]) >= 22
    assert await get(client) == answer


async def test_duplicate_username(seed_client: Callable[[], SeedClient]) -> None:
    first, second = seed_client(), seed_client()
    await first.sign("new_buyer", "gus")
    assert await second.sign("new_buyer", "gus") == {"failed": "DUPLICATE_USERNAME"}
    assert "token" in await second.sign("new_seller", "gus")


async def test_usernames_are_case_sensitive(seed_client: Callable[[], SeedClient]) -> None:
    lower, upper = seed_client(), seed_client()
    assert "token" in await lower.sign("new_buyer", "hank")
    assert "token" in await upper.sign("new_buyer", "Hank")
    assert (await upper.call("/profile"))["uid"] == "buyer_Hank"
    assert await upper.sign("buyer", "HANK") == {"failed": "INVALID_ROLE_USERNAME"}


@pytest.mark.parametrize(
    "body",
    [
        {"token": "new_buyer", "password": "secret-pw"},
        {"token": "new_buyer", "username": "ivy"},
        {"token": "new_buyer", "username": "iv", "password": "secret-pw"},
        {"token": "new_buyer", "username": "ivy ivy", "password": "secret-pw"},
        {"token": "new_buyer", "username": 123, "password": "secret-pw"},
        {"token": "new_buyer", "username": "ivy", "password": "pw"},
        {"token": "new_buyer", "username": "ivy", "password": 12345678},
        {"token": "new_seller", "username": "ivy", "password": "x" * 129},
    ],
)
async def test_register_bad_input(
    seed_client: Callable[[], SeedClient], body: dict[str, object]
) -> None:
    client = seed_client()
    await client.call("/user", body)
    assert await get(client) == {"failed": "BAD_INPUT"}


async def test_login_unknown_account(seed_client: Callable[[], SeedClient]) -> None:
    seller, client = seed_client(), seed_client()
    await seller.sign("new_seller", "jack")
    assert await client.sign("buyer", "jack") == {"failed": "INVALID_ROLE_USERNAME"}
    assert await client.sign("seller", "nobody-here") == {"failed": "INVALID_ROLE_USERNAME"}


async def test_login_wrong_password(seed_client: Callable[[], SeedClient]) -> None:
    owner, client = seed_client(), seed_client()
    await owner.sign("new_buyer", "kim")
    assert await client.sign("buyer", "kim", "wrong-pw") == {"failed": "INVALID_PASSWORD"}
    assert "token" in await client.sign("buyer", "kim")


async def test_get_reports_failure_once_then_token(
    seed_client: Callable[[], SeedClient],
) -> None:
    client = seed_client()
    token = (await client.sign("new_buyer", "lea"))["token"]

    await client.call("/user", log_in("lea", "wrong-pw"))
    assert await get(client) == {"failed": "INVALID_PASSWORD"}
    assert await get(client) == {"token": token}
    assert (await client.call("/profile"))["uid"] == "buyer_lea"


async def test_get_reports_failure_on_fresh_session(
    seed_client: Callable[[], SeedClient],
) -> None:
    owner, client = seed_client(), seed_client()
    await owner.sign("new_buyer", "max")

    started = time.monotonic()
    await client.call("/user", log_in("max", "wrong-pw"))
    assert await get(client) == {"failed": "INVALID_PASSWORD"}
    assert time.monotonic() - started < 0.9


async def test_get_waits_for_latest_login(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    old = (await client.sign("new_buyer", "ned"))["token"]
    for _ in range(3):
        await client.call("/user", log_in("ned"))
        new = await get(client)
        assert set(new) == {"token"}
        assert new["token"] != old
        old = new["token"]


async def test_logout_ends_token(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    await client.sign("new_buyer", "olga")
    old_token = client.token
    assert await client.call("/user", {"token": "del"}) == {"success": "1"}

    started = time.monotonic()
    assert await client.call("/profile", {"token": old_token}) == {"error": "UNAUTHORIZED"}
    assert await client.call("/req_status", {"token": old_token, "req_id": "x"}) == {
        "error": "UNAUTHORIZED"
    }
    assert time.monotonic() - started < 0.5

    stale = await client.submit("/deposit", amount=5)
    assert "token" in await client.sign("buyer", "olga")
    assert (await client.status(stale))["failed"] == "unauthorized"
    assert (await client.call("/profile"))["deposit"] == 0


async def test_logout_without_token(seed_client: Callable[[], SeedClient]) -> None:
    client = seed_client()
    assert await client.call("/user", {"token": "del"}) == {"success": "1"}


async def test_too_many_attempts(seed_client: Callable[[], SeedClient]) -> None:
    owner, attacker, bystander = seed_client(), seed_client(), seed_client()
    await owner.sign("new_buyer", "pam")
    await bystander.sign("new_buyer", "quinn")

    for _ in range(5):
        assert await attacker.sign("buyer", "pam", "wrong-pw") == {"failed": "INVALID_PASSWORD"}
    assert await attacker.sign("buyer", "pam") == {"failed": "TOO_MANY_ATTEMPTS"}
    assert await owner.sign("buyer", "pam") == {"failed": "TOO_MANY_ATTEMPTS"}
    assert "token" in await bystander.sign("buyer", "quinn")


STORED_TABLES = [
    "users",
    "auth_tokens",
    "queue",
    "statuses",
    "web_sessions",
    "pending_tokens",
    "ledger",
    "login_failures",
    "dead_letters",
]


async def test_sign_in_keeps_secrets_out(
    seed_client: Callable[[], SeedClient],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = "very-secret-password-42"
    client = seed_client()
    with caplog.at_level(logging.DEBUG):
        await client.sign("new_buyer", "rita", password)
        await client.sign("buyer", "rita", "wrong-password-17")
        await client.sign("buyer", "rita", password)
        await client.do("/deposit", amount=5)
    assert client.token is not None
    await asyncio.sleep(0.05)

    if settings.database.startswith("sqlite:"):
        # The file and its WAL, free pages included, where a deleted row's bytes may remain.
        path = Path(settings.database.removeprefix("sqlite:///"))
        stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        stored = dump_tables(settings.database, STORED_TABLES)
    assert password.encode() not in stored
    assert b"wrong-password-17" not in stored
    assert client.token.encode() in stored  # the session record is the one plain copy
    assert stored.count(client.token.encode()) >= 1

    logged = caplog.text
    assert password not in logged
    assert "wrong-password-17" not in logged
    assert client.token not in logged
    assert "$argon2" not in logged
