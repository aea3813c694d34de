"""`/req_status` waits briefly for a queued request of the caller's own account."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.e2e.seed_client import SeedClient
from vending.settings import Settings

WAIT_MS = 500


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The usual settings with a wait long enough to tell apart from an immediate response."""
    return settings.model_copy(update={"status_poll_wait_ms": WAIT_MS})


async def test_poll_after_submit_gets_status(seed_client: Callable[[], SeedClient]) -> None:
    buyer = seed_client()
    await buyer.sign("new_buyer", "paula")

    misses = 0
    for _ in range(10):
        submitted = await buyer.call("/deposit", amount=5)
        status = await buyer.call("/req_status", req_id=submitted["req_id"])
        if status == {"error": "status unavailable"}:
            misses += 1
        else:
            assert status == {"success": "deposit: +5"}
    assert misses == 0


async def test_other_session_request_answers_at_once(
    seed_client: Callable[[], SeedClient],
) -> None:
    owner, other = seed_client(), seed_client()
    await owner.sign("new_buyer", "olga")
    await other.sign("new_buyer", "otto")
    submitted = await owner.call("/deposit", amount=5)

    started = time.monotonic()
    answer = await other.call("/req_status", req_id=submitted["req_id"])
    assert answer == {"error": "status unavailable"}
    assert time.monotonic() - started < WAIT_MS / 1000 / 2
