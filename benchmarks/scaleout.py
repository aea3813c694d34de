"""Measure deposit+buy pairs per second on the embedded and the scale-out profile.

Each configuration runs as real `vending` processes on 127.0.0.1 and a database of its own.
Every simulated buyer loops: deposit one 5-cent coin, buy one 5-cent item without waiting for the
deposit's status, then poll `/req_status` until the buy has a status. A pair counts when its buy
succeeded. CPU time of the vending processes and of their PostgreSQL backends is read from
/proc (Linux only) and divided by the requests applied (two per pair).

    python benchmarks/scaleout.py --seconds 10 --buyers 40

NOTE: the load generator runs on the same machine and takes CPU from the servers, so the
figures are a lower bound for the servers themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

ENVIRONMENT = {"VENDING_ARGON2_TIME_COST": "1", "VENDING_ARGON2_MEMORY_KIB": "1024"}
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Config:
    name: str
    database: str  # "sqlite" or "postgresql"
    gateways: int
    workers: int  # of each kind; 0 = embedded (`vending serve`)


CONFIGS = [
    Config("embedded, SQLite", "sqlite", 1, 0),
    Config("embedded, PostgreSQL", "postgresql", 1, 0),
    Config("1 gateway, 1 worker of each kind", "postgresql", 1, 1),
    Config("1 gateway, 2 workers of each kind", "postgresql", 1, 2),
    Config("2 gateways, 2 workers of each kind", "postgresql", 2, 2),
]


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds of process `pid` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


class Deployment:
    """The processes of one configuration, and its database."""

    def __init__(self, config: Config, server_url: str, first_port: int, log_dir: Path) -> None:
        self.config = config
        self.server_url = server_url
        self.log_dir = log_dir
        self.urls = [f"http://127.0.0.1:{first_port + n}" for n in range(config.gateways)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        if config.database == "sqlite":
            self.database = f"sqlite:///{log_dir / 'bench.db'}"
        else:
            self.dbname = "vending_bench_" + secrets.token_hex(4)
            with psycopg.connect(server_url, autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {self.dbname}")
            self.database = urlsplit(server_url)._replace(path="/" + self.dbname).geturl()

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "vending", *args, "--database", self.database],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **ENVIRONMENT},
        )

    def start(self) -> None:
        if self.config.workers == 0:
            port = self.urls[0].rsplit(":", 1)[1]
            self._spawn("serve", ["serve", "--port", port, "--log-level", "warning"])
        else:
            subprocess.run(
                [sys.executable, "-m", "vending", "db", "upgrade", "--database", self.database],
                check=True,
                capture_output=True,
            )
            for kind in ("gatekeeper", "stock-handler"):
                for n in range(self.config.workers):
                    self._spawn(f"{kind}-{n}", ["worker", kind, "--log-level", "warning"])
            for n, url in enumerate(self.urls):
                port = url.rsplit(":", 1)[1]
                self._spawn(f"gateway-{n}", ["gateway", "--port", port, "--log-level", "warning"])
        for url in self.urls:
            self._wait_healthy(url)

    def _wait_healthy(self, url: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"{url} did not become healthy; see {self.log_dir}")

    def cpu(self) -> dict[str, float]:
        """Return CPU seconds so far per role: gateway, gatekeeper, stock-handler, postgres."""
        totals: dict[str, float] = {}
        for name, process in self.processes.items():
            role = name.rsplit("-", 1)[0] if "-" in name and name != "serve" else name
            role = "stock-handler" if name.startswith("stock-handler") else role
            totals[role] = totals.get(role, 0.0) + cpu_seconds(process.pid)
        if self.config.database == "postgresql":
            with psycopg.connect(self.server_url, autocommit=True) as connection:
                rows = connection.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.dbname,)
                ).fetchall()
            totals["postgres"] = sum(cpu_seconds(int(pid)) for (pid,) in rows)
        return totals

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.config.database == "postgresql":
            with psycopg.connect(self.server_url, autocommit=True) as connection:
                connection.execute(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)")


class Buyer:
    def __init__(self, wsess_id: str, token: str) -> None:
        self.wsess_id = wsess_id
        self.token = token


class Load:
    """Seed-protocol clients: user n sends to gateway n mod the number of gateways."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.http = httpx.AsyncClient(
            timeout=30,
            limits=httpx.Limits(max_connections=400),
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        )
        self.pairs = 0
        self.failed = 0

    async def post(self, n: int, path: str, body: dict[str, Any]) -> Any:
        response = await self.http.post(self.urls[n % len(self.urls)] + path, json=body)
        return response.json()

    async def sign_up(self, n: int, role: str) -> Buyer:
        name = f"{role}{n}x{secrets.token_hex(3)}"
        body = {"token": f"new_{role}", "username": name, "password": "bench-password"}
        wsess_id = (await self.post(n, "/user", body))["wsess_id"]
        got = await self.post(n, "/user", {"token": "get", "wsess_id": wsess_id})
        return Buyer(wsess_id, got["token"])

    async def status(self, n: int, user: Buyer, req_id: str) -> Any:
        body = {"wsess_id": user.wsess_id, "token": user.token, "req_id": req_id}
        while True:
            answer = await self.post(n, "/req_status", body)
            if answer != {"error": "status unavailable"}:
                return answer
            await asyncio.sleep(0.01)

    async def pairs_loop(self, n: int, user: Buyer, product_uid: str, until: float) -> None:
        auth = {"wsess_id": user.wsess_id, "token": user.token}
        while time.monotonic() < until:
            await self.post(n, "/deposit", {**auth, "amount": 5})
            buy = await self.post(n, "/buy", {**auth, "product_uid": product_uid, "amount": 1})
            answer = await self.status(n, user, buy["req_id"])
            if "success" in answer:
                self.pairs += 1
            else:
                self.failed += 1


async def measure(deployment: Deployment, buyers: int, seconds: float, warmup: float) -> str:
    load = Load(deployment.urls)
    seller = await load.sign_up(0, "seller")
    sell = await load.post(
        0,
        "/sell",
        {
            "wsess_id": seller.wsess_id,
            "token": seller.token,
            "product_name": "Bench",
            "cost": 5,
            "amount": 1_000_000,
        },
    )
    product_uid = (await load.status(0, seller, sell["req_id"]))["success"]
    users = await asyncio.gather(*(load.sign_up(n, "buyer") for n in range(buyers)))

    end = time.monotonic() + warmup + seconds
    tasks = [
        asyncio.create_task(load.pairs_loop(n, user, product_uid, end))
        for n, user in enumerate(users)
    ]
    await asyncio.sleep(warmup)
    pairs_before, cpu_before, started = load.pairs, deployment.cpu(), time.monotonic()
    client_before = time.process_time()
    await asyncio.sleep(seconds)
    pairs, cpu_after, elapsed = load.pairs - pairs_before, deployment.cpu(), time.monotonic()
    client = time.process_time() - client_before
    elapsed -= started
    await asyncio.gather(*tasks)
    await load.http.aclose()

    used = {role: cpu_after[role] - cpu_before.get(role, 0.0) for role in cpu_after}
    requests = max(1, 2 * pairs)
    per_role = ", ".join(f"{role} {1000 * s / requests:.2f}" for role, s in sorted(used.items()))
    total = 1000 * sum(used.values()) / requests
    return (
        f"{deployment.config.name:38} {pairs / elapsed:8.1f} pairs/s  "
        f"CPU ms/request {total:.2f} ({per_role}); load generator {1000 * client / requests:.2f}; "
        f"failed buys {load.failed}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "VENDING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="PostgreSQL server URL; each configuration creates and drops its own database",
    )
    parser.add_argument("--port", type=int, default=8250, help="first gateway port")
    parser.add_argument("--buyers", type=int, default=40, help="concurrent buyers")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument(
        "--only", help="run only configurations whose name contains this text (e.g. embedded)"
    )
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs; {args.buyers} buyers; {args.seconds} s measured", flush=True)
    for config in CONFIGS:
        if args.only and args.only not in config.name:
            continue
        log_dir = Path(tempfile.mkdtemp(prefix="vending-bench-"))
        deployment = Deployment(config, args.postgres, args.port, log_dir)
        try:
            deployment.start()
            line = asyncio.run(measure(deployment, args.buyers, args.seconds, args.warmup))
        except Exception:
            print(f"{config.name} failed; process logs are in {log_dir}", flush=True)
            raise
        finally:
            deployment.stop()
        print(line, flush=True)
        shutil.rmtree(log_dir)


if __name__ == "__main__":
    main()
