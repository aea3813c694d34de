"""The scale-out profile as real processes: two gateways and two of each worker on PostgreSQL.

Each test gets a database of its own. Clients speak the seed protocol over HTTP and spread
one user's requests over both gateways, so that per-user order is tested across gateways,
queues and workers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests import postgres
from tests.e2e.processes import TEST_ENVIRONMENT, ScaleOutSet
from tests.ports import port_range

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PRODUCT_COST = 35
STOCK = 30
BUYERS = 100


@pytest.fixture
def database() -> Iterator[str]:
    url = postgres.create_database(postgres.server_url())
    upgrade = subprocess.run(
        [sys.executable, "-m", "vending", "db", "upgrade", "--database", url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    yield url
    if not os.environ.get("VENDING_TEST_KEEP_DATABASE"):
        postgres.drop_database(url)


def test_upgrade_missing_database_hint() -> None:
    url = postgres.with_database(postgres.server_url(), "vending_t_missing")
    upgrade = subprocess.run(
        [sys.executable, "-m", "vending", "db", "upgrade", "--database", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
    )
    assert upgrade.returncode == 2
    assert 'database "vending_t_missing" does not exist' in upgrade.stderr
    assert "createdb" in upgrade.stderr
    assert "Traceback" not in upgrade.stderr


def start_set(database: str, first_port: int, log_dir: Path) -> ScaleOutSet:
    cluster = ScaleOutSet(database, first_port, log_dir)
    for name in ("gatekeeper", "gatekeeper", "stock-handler", "stock-handler"):
        cluster.start_worker(name)
    cluster.start_gateways(2)
    return cluster


@dataclass
class User:
    """A seed-protocol session, usable through any gateway."""

    wsess_id: str
    token: str
    req_ids: list[str] = field(default_factory=list)


class Clients:
    """Seed-protocol calls, the n-th call of a user going to gateway n mod 2."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        # Sessions travel in the body only: a shared cookie jar would mix users' sessions.
        no_cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        self.http = httpx.AsyncClient(
            timeout=30.0, limits=httpx.Limits(max_connections=200), cookies=no_cookies
        )
        self.accepted: list[str] = []

    async def post(self, gateway: int, path: str, body: dict[str, Any]) -> Any:
        response = await self.http.post(self.urls[gateway % len(self.urls)] + path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def sign_up(self, role: str, username: str, gateway: int) -> User:
        answer = await self.post(
            gateway, "/user", {"token": f"new_{role}", "username": username, "password": "pw-123"}
        )
        wsess_id = answer["wsess_id"]
        got = await self.post(gateway + 1, "/user", {"token": "get", "wsess_id": wsess_id})
        assert "token" in got, got
        return User(wsess_id, got["token"])

    async def submit(self, user: User, gateway: int, path: str, **fields: Any) -> str:
        body = {"wsess_id": user.wsess_id, "token": user.token, **fields}
        answer = await self.post(gateway, path, body)
        assert "req_id" in answer, answer
        self.accepted.append(answer["req_id"])
        return str(answer["req_id"])

    async def status(self, user: User, req_id: str, timeout: float = 60.0) -> Any:
        body = {"wsess_id": user.wsess_id, "token": user.token, "req_id": req_id}
        deadline = time.monotonic() + timeout
        gateway = 0
        while True:
            gateway += 1
            answer = await self.post(gateway, "/req_status", body)
            if answer != {"error": "status unavailable"}:
                return answer
            assert time.monotonic() < deadline, f"no status for {req_id} in {timeout} s"
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.http.aclose()


async def race_for_stock(clients: Clients, on_half_submitted: Any = None) -> list[Any]:
    """Sign up a seller and 100 buyers, then let each buyer deposit 20 + 20 cents and buy one
    item without waiting. A buyer's deposits and buy go to different gateways. Return the buy
    statuses."""
    seller = await clients.sign_up("seller", "sally", 0)
    created_id = await clients.submit(
        seller, 1, "/sell", product_name="Cola", cost=PRODUCT_COST, amount=STOCK
    )
    created = await clients.status(seller, created_id)
    product_uid = created["success"]

    buyers = await asyncio.gather(
        *(clients.sign_up("buyer", f"buyer{n}", n) for n in range(BUYERS))
    )
    submitted = 0

    async def buy(user: User, n: int) -> Any:
        nonlocal submitted
        await clients.submit(user, n, "/deposit", amount=20)
        await clients.submit(user, n + 1, "/deposit", amount=20)
        buy_id = await clients.submit(user, n, "/buy", product_uid=product_uid, amount=1)
        submitted += 1
        if submitted == BUYERS // 2 and on_half_submitted is not None:
            on_half_submitted()
        return await clients.status(user, buy_id)

    return list(await asyncio.gather(*(buy(user, n) for n, user in enumerate(buyers))))


def check_outcome(database: str, buys: list[Any], accepted: list[str]) -> None:
    """Exactly STOCK buys succeed; every request has one status; nothing is applied twice."""
    succeeded = [b for b in buys if "success" in b]
    assert len(succeeded) == STOCK
    for bought in succeeded:
        assert bought["success"]["spent"] == PRODUCT_COST
        assert bought["success"]["change"] == [5]
    failed_codes = {str(b.get("error") or b.get("failed")) for b in buys if "success" not in b}
    assert len(buys) - len(succeeded) == BUYERS - STOCK
    assert all("STOCK" in code for code in failed_codes), failed_codes

    with psycopg.connect(database) as connection:
        queued = connection.execute("SELECT COUNT(*) FROM queue").fetchone()
        set_aside = connection.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        with_status = {
            row[0] for row in connection.execute("SELECT req_id FROM statuses").fetchall()
        }
        twice = connection.execute(
            "SELECT req_id, kind FROM ledger GROUP BY req_id, kind HAVING COUNT(*) > 1"
        ).fetchall()
        deposits = connection.execute(
            "SELECT COUNT(*) FROM ledger WHERE kind = 'deposit'"
        ).fetchone()
        purchases = connection.execute(
            "SELECT COUNT(*) FROM ledger WHERE kind = 'purchase'"
        ).fetchone()
        stock = connection.execute("SELECT amount FROM products").fetchall()
    assert queued == (0,)
    assert set_aside == (0,)
    assert set(accepted) - with_status == set()
    assert twice == []
    assert deposits == (2 * BUYERS,)
    assert purchases == (STOCK,)
    assert stock == [(0,)]

    audit = subprocess.run(
        [sys.executable, "-m", "vending", "audit", "--database", database],
        capture_output=True,
        text=True,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "no differences" in audit.stdout


def assert_clean_stop(cluster: ScaleOutSet, killed: set[str] | None = None) -> None:
    """Stop every process; each one not killed must have shut down gracefully.

    uvicorn ends a gateway by re-raising the SIGTERM after its graceful shutdown, so a gateway's
    status is -SIGTERM; a worker exits with 0.
    """
    statuses = cluster.stop()
    for process in [*cluster.gateways, *cluster.workers]:
        name = process.log_path.stem
        if name in (killed or set()):
            continue
        assert statuses[name] in (0, -signal.SIGTERM), f"{name} exited with {statuses[name]}"
        assert "stopped" in process.output(), f"{name} did not log its stop"


async def test_hundred_buyers_race_for_thirty_items(database: str, tmp_path: Path) -> None:
    cluster = start_set(database, port_range(range(8210, 8220)).start, tmp_path)
    clients = Clients(cluster.urls)
    try:
        buys = await race_for_stock(clients)
    finally:
        await clients.close()
        assert_clean_stop(cluster)
    check_outcome(database, buys, clients.accepted)


async def test_worker_killed_mid_load(database: str, tmp_path: Path) -> None:
    cluster = start_set(database, 8220, tmp_path)
    clients = Clients(cluster.urls)
    killed: set[str] = set()

    def kill_and_replace() -> None:
        for victim in (cluster.workers[0], cluster.workers[2]):
            victim.kill()
            killed.add(victim.log_path.stem)
            cluster.start_worker(victim.args[1])

    try:
        buys = await race_for_stock(clients, on_half_submitted=kill_and_replace)
    finally:
        await clients.close()
        assert_clean_stop(cluster, killed)
    assert len(killed) == 2
    check_outcome(database, buys, clients.accepted)


async def test_deposit_then_buy_without_waiting(database: str, tmp_path: Path) -> None:
    cluster = start_set(database, 8230, tmp_path)
    clients = Clients(cluster.urls)
    try:
        seller = await clients.sign_up("seller", "sam", 0)
        sell_id = await clients.submit(seller, 1, "/sell", product_name="Gum", cost=100, amount=60)
        product_uid = (await clients.status(seller, sell_id))["success"]
        buyers = await asyncio.gather(
            *(clients.sign_up("buyer", f"buyer{n}", n) for n in range(50))
        )

        async def deposit_then_buy(user: User, n: int) -> Any:
            await clients.submit(user, n, "/deposit", amount=100)
            buy_id = await clients.submit(user, n + 1, "/buy", product_uid=product_uid, amount=1)
            return await clients.status(user, buy_id)

        buys = await asyncio.gather(*(deposit_then_buy(u, n) for n, u in enumerate(buyers)))
    finally:
        await clients.close()
        assert_clean_stop(cluster)
    for bought in buys:
        assert bought == {
            "success": {"spent": 100, "change": [], "product_uid": product_uid, "amount": 1}
        }


def test_cluster_command_starts_and_stops(tmp_path: Path) -> None:
    url = postgres.create_database(postgres.server_url())
    log_path = tmp_path / "cluster.log"
    command = ["cluster", "--gateways", "2", "--workers", "1", "--port", "8240", "--database", url]
    try:
        with log_path.open("wb") as log:
            cluster = subprocess.Popen(
                [sys.executable, "-m", "vending", *command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **TEST_ENVIRONMENT},
            )
            try:
                for port in (8240, 8241):
                    wait_until_ready(f"http://127.0.0.1:{port}", cluster, log_path)
            finally:
                cluster.send_signal(signal.SIGTERM)
                status = cluster.wait(30)
    finally:
        postgres.drop_database(url)

    output = log_path.read_text()
    assert status == 0, output
    assert output.count("worker lane") == 6, output
    assert output.count("vending.runtime: stopped") == 2, output
    assert "cluster stopped" in output


def wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()
        try:
            if httpx.get(base_url + "/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base_url} not ready:\n{log_path.read_text()}")
