"""Shared fixtures: settings for a throwaway database, and the embedded app over HTTP.

`settings`, and every fixture and test built on it, runs twice: on SQLite (the embedded
profile) and on PostgreSQL (the scale-out profile's database and bus). The PostgreSQL run is
skipped, with the reason, when VENDING_TEST_POSTGRES_URL is unset or unreachable.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests import postgres
from vending.runtime import embedded_app
from vending.settings import Settings

# `vending serve` shortens the GIL switch interval (see `vending.cli._run_server`): database
# threads give up the GIL around every statement and otherwise wait up to 5 ms to get it back
# from a busy event loop. Tests run the app in this process, so they do the same.
sys.setswitchinterval(Settings().switch_interval_ms / 1000)

FAST_HASHING = {
    "argon2_time_cost": 1,
    "argon2_memory_kib": 1024,
    "password_min_length": 3,
}
"""Settings that make argon2 cheap, so that tests can sign up many users."""


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """Return the URL of a database created for this test session, dropped at its end."""
    url = postgres.create_database(postgres.server_url())
    yield url
    postgres.drop_database(url)


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """Return the URL of an empty schema of its own in the session's PostgreSQL database."""
    url = postgres.create_schema(postgres_database)
    yield url
    postgres.drop_schema(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vending.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database=database_url,
        purge_interval_seconds=3600,
        **FAST_HASHING,  # type: ignore[arg-type]
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    application = embedded_app(settings)
    async with LifespanManager(application) as manager:
        yield manager.app


@pytest.fixture
def transport(app: object) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)  # type: ignore[arg-type]
