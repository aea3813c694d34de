"""Shared fixtures: settings for a throwaway database, and the embedded app over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from vending.runtime import embedded_app
from vending.settings import Settings

FAST_HASHING = {
    "argon2_time_cost": 1,
    "argon2_memory_kib": 1024,
    "password_min_length": 3,
}
"""Settings that make argon2 cheap, so that tests can sign up many users."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database=f"sqlite:///{tmp_path / 'vending.db'}",
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
