from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.e2e.seed_client import SeedClient


@pytest.fixture
async def seed_client(transport: httpx.ASGITransport) -> AsyncIterator[Callable[[], SeedClient]]:
    """Return a factory of seed-protocol clients, each with its own session."""
    clients: list[SeedClient] = []

    def make() -> SeedClient:
        client = SeedClient(transport)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def http(transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    """Return an HTTP client of the embedded app."""
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
