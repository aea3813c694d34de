"""`vending bench --spawn` against a real server process, briefly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests import ports
from tests.ports import port_range

PORTS = port_range(range(8400, 8500))
FAST_HASHING_ENV = {
    "VENDING_ARGON2_TIME_COST": "1",
    "VENDING_ARGON2_MEMORY_KIB": "1024",
}


def free_port() -> int:
    """Return a port of this suite's range that nothing listens on."""
    return ports.free_port(PORTS)


def run_spawned_bench(*options: str) -> dict[str, Any]:
    """Run a one-second `vending bench --spawn` with 4 buyers; return its JSON figures."""
    command = [
        sys.executable,
        "-m",
        "vending",
        "bench",
        "--spawn",
        "--url",
        f"http://127.0.0.1:{free_port()}",
        "-c",
        "4",
        "-d",
        "1",
        "--warmup",
        "0.2",
        "--products",
        "2",
        *options,
    ]
    result = subprocess.run(
        command,
        env={**os.environ, **FAST_HASHING_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def assert_clean_run(figures: dict[str, Any]) -> None:
    assert figures["pairs"] > 0
    assert figures["lost_total"] == 0
    assert figures["failures"] == {}
    assert figures["audit"]["clean"] is True
    assert figures["audit"]["deposit_mismatches"] == 0
    assert figures["audit"]["unreadable"] == 0
    assert figures["audit"]["stock_diff"] == 0
    assert figures["audit"]["items_bought"] >= figures["pairs"]


@pytest.mark.slow
def test_bench_spawn_run_is_clean() -> None:
    figures = run_spawned_bench()

    assert figures["proto"] == "seed"
    assert_clean_run(figures)
    assert figures["server"]["cpu_pct"] > 0
    assert figures["server"]["peak_rss_mib"] > 0


@pytest.mark.slow
def test_bench_rest_run_is_clean() -> None:
    figures = run_spawned_bench("--proto", "rest")

    assert figures["proto"] == "rest"
    assert_clean_run(figures)
    # Each deposit and buy gets its result in the response to its one POST: no status polls.
    assert figures["http_per_s"] < 1.2 * figures["ops_per_s"]
    assert figures["server"]["cpu_pct"] > 0


@pytest.mark.slow
def test_bench_rest_async_polls_requests() -> None:
    figures = run_spawned_bench("--proto", "rest", "--prefer-async", "--poll", "5")

    assert figures["proto"] == "rest"
    assert figures["prefer_async"] is True
    assert_clean_run(figures)
    # Each 202 response is followed by at least one GET of the request's state.
    assert figures["http_per_s"] >= 1.8 * figures["ops_per_s"]


def test_bench_without_server_says_so() -> None:
    port = free_port()
    command = [sys.executable, "-m", "vending", "bench", "--url", f"http://127.0.0.1:{port}"]

    result = subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in result.stderr
    assert "--spawn" in result.stderr
    assert "Traceback" not in result.stderr
