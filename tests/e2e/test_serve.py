"""`vending serve` as a real process: a whole story, SIGKILL mid-load, and SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import ports
from tests.e2e.seed_client import SeedClient
from tests.ledger import query
from tests.ports import port_range

pytestmark = pytest.mark.slow

PORTS = port_range(range(8400, 8500))
ENVIRONMENT = {
    "VENDING_ARGON2_TIME_COST": "1",
    "VENDING_ARGON2_MEMORY_KIB": "1024",
    "VENDING_PASSWORD_MIN_LENGTH": "3",
}


def free_port() -> int:
    """Return a port of this suite's range that nothing listens on."""
    return ports.free_port(PORTS)


class Server:
    """One `vending serve` process on a SQLite file, its log in a file."""

    def __init__(self, database: str, log: Path) -> None:
        self.database = database
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "vending", "serve", "--port", str(self.port)]
        command += ["--database", self.database]
        start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **ENVIRONMENT}
            )
        deadline = time.monotonic() + 20
        while f"vending ready on {self.url}" not in self.log.read_text()[start:]:
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def signal(self, number: int) -> int:
        assert self.process is not None
        self.process.send_signal(number)
        return self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(f"sqlite:///{tmp_path / 'vending.db'}", tmp_path / "serve.log")
    yield running
    running.stop()


def client(server: Server) -> SeedClient:
    return SeedClient(httpx.AsyncHTTPTransport(), base_url=server.url)


def run_audit(database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vending", "audit", "--database", database],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_story_over_http(server: Server) -> None:
    server.start()
    seller, buyer = client(server), client(server)
    try:
        assert "token" in await seller.sign("new_seller", "sally")
        assert "token" in await buyer.sign("new_buyer", "bob")
        product_uid = (await seller.do("/sell", product_name="Cola", cost=35, amount=10))["success"]
        restocked = await seller.do("/sell", product_uid=product_uid, amount="5")
        assert restocked["success"]["amount"] == 15

        for coin in (100, 20):
            assert await buyer.do("/deposit", amount=coin) == {"success": f"deposit: +{coin}"}
        bought = await buyer.do("/buy", product_uid=product_uid, amount=3)
        assert bought == {
            "success": {"spent": 105, "change": [10, 5], "product_uid": product_uid, "amount": 3}
        }
        await buyer.do("/deposit", amount=50)
        assert await buyer.do("/reset") == {"success": {"change": [50]}}
        assert (await buyer.call("/profile"))["deposit"] == 0
        assert (await seller.call("/products", {}))[0]["amount"] == 12

        response = await buyer.http.put("/nope", content=b"{}")
        assert response.status_code == 204
        assert await buyer.call("/user", {"token": "del"}) == {"success": "1"}
        assert await buyer.call("/profile") == {"error": "UNAUTHORIZED"}
    finally:
        await seller.close()
        await buyer.close()
    assert server.signal(signal.SIGTERM) == 0


async def load(buyer: SeedClient, product_uid: str, answered: list[tuple[str, str]]) -> None:
    """Send deposits and buys until the server goes away, recording each accepted request id."""
    with contextlib.suppress(httpx.HTTPError):
        while True:
            for path, fields in (
                ("/deposit", {"amount": 10}),
                ("/deposit", {"amount": 5}),
                ("/buy", {"product_uid": product_uid, "amount": 1}),
            ):
                req_id = await buyer.submit(path, **fields)
                answered.append((path, req_id))


EXPECTED_LEDGER_ROWS = {"/deposit": {1}, "/buy": {2, 3}}
"""Ledger rows one successful request writes: a deposit one; a buy two, three with change."""


async def test_sigkill_loses_and_repeats_nothing(server: Server) -> None:
    server.start()
    seller = client(server)
    buyers = [client(server) for _ in range(4)]
    answered: list[list[tuple[str, str]]] = [[] for _ in buyers]
    try:
        await seller.sign("new_seller", "stocker")
        product_uid = (await seller.do("/sell", product_name="Tea", cost=15, amount=100_000))[
            "success"
        ]
        for i, buyer in enumerate(buyers):
            assert "token" in await buyer.sign("new_buyer", f"loader{i}")

        tasks = [
            asyncio.create_task(load(b, product_uid, a))
            for b, a in zip(buyers, answered, strict=True)
        ]
        while sum(len(a) for a in answered) < 200:
            await asyncio.sleep(0.01)
        assert server.signal(signal.SIGKILL) == -signal.SIGKILL
        await asyncio.gather(*tasks)

        server.start()
        statuses: dict[str, Any] = {}
        for buyer, requests in zip(buyers, answered, strict=True):
            for _, req_id in requests:
                statuses[req_id] = await buyer.status(req_id, timeout=10)
    finally:
        for seed in [seller, *buyers]:
            await seed.close()
    assert server.signal(signal.SIGTERM) == 0

    rows = dict(query(server.database, "SELECT req_id, COUNT(*) FROM ledger GROUP BY req_id"))
    for path, req_id in (r for requests in answered for r in requests):
        status = statuses[req_id]
        assert "success" in status or "failed" in status, (req_id, status)
        if "success" in status:
            assert rows.get(req_id) in EXPECTED_LEDGER_ROWS[path], (req_id, status)
        else:
            assert status["failed"] == "INSUFFICIENT_DEPOSIT"
            assert req_id not in rows

    audit = run_audit(server.database)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "no differences" in audit.stdout


async def test_sigterm_stops_cleanly(server: Server) -> None:
    server.start()
    buyer = client(server)
    try:
        await buyer.sign("new_buyer", "leaver")
        await buyer.do("/deposit", amount=5)
    finally:
        await buyer.close()

    assert server.signal(signal.SIGTERM) == 0
    log = server.log.read_text()
    assert "stopped" in log
    assert "Traceback" not in log
