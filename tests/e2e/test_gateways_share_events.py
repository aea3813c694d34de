"""Two gateways in one test process on one PostgreSQL schema: what one learns, the other hears."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.conftest import FAST_HASHING
from tests.e2e.seed_client import SeedClient
from vending.gateway.seed import COOKIE
from vending.runtime import embedded_app, gateway_app
from vending.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
async def two_gateways(postgres_url: str) -> AsyncIterator[tuple[SeedClient, SeedClient]]:
    """A seed client on the all-in-one process and one on a gateway-only process, sharing
    one session id."""
    settings = Settings(database=postgres_url, **FAST_HASHING)  # type: ignore[arg-type]
    first = embedded_app(settings)
    async with LifespanManager(first) as one:
        second = gateway_app(settings)
        async with LifespanManager(second) as two:
            a = SeedClient(httpx.ASGITransport(app=one.app))  # type: ignore[arg-type]
            b = SeedClient(httpx.ASGITransport(app=two.app))  # type: ignore[arg-type]
            yield a, b
            await a.close()
            await b.close()


def share_session(signed_in: SeedClient, other: SeedClient) -> None:
    """Make `other` use the session and token of `signed_in`, through its own gateway."""
    assert signed_in.wsess_id is not None
    other.token, other.wsess_id = signed_in.token, signed_in.wsess_id
    other.http.cookies.set(COOKIE, signed_in.wsess_id)


async def test_ended_token_rejected_on_other_gateway(
    two_gateways: tuple[SeedClient, SeedClient],
) -> None:
    a, b = two_gateways
    await a.sign("new_buyer", "tina")
    share_session(a, b)
    assert (await b.call("/profile"))["uid"] == "buyer_tina"

    assert await a.call("/user", {"token": "del"}) == {"success": "1"}

    # A read with an ended token returns UNAUTHORIZED, or TIMEOUT once the purge has removed the
    # token. A gateway that missed the end would still return the profile.
    started = time.monotonic()
    answer = await b.call("/profile")
    while "uid" in answer and time.monotonic() - started < 1.0:
        await asyncio.sleep(0.01)
        answer = await b.call("/profile")
    assert answer in ({"error": "UNAUTHORIZED"}, {"error": "TIMEOUT"})


async def test_status_reaches_other_gateway(
    two_gateways: tuple[SeedClient, SeedClient],
) -> None:
    a, b = two_gateways
    await a.sign("new_buyer", "ursula")
    share_session(a, b)

    req_id = (await b.call("/deposit", amount=50))["req_id"]

    assert await a.status(req_id) == {"success": "deposit: +50"}
    assert await b.status(req_id) == {"success": "deposit: +50"}
