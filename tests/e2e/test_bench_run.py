"""`vending bench --spawn` against a real server process, briefly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

FAST_HASHING_ENV = {
    "VENDING_ARGON2_TIME_COST": "1",
    "VENDING_ARGON2_MEMORY_KIB": "1024",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_bench_spawn_run_is_clean() -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "vending",
        "bench",
        "--spawn",
        "--url",
        f"http://127.0.0.1:{port}",
        "-c",
        "4",
        "-d",
        "1",
        "--warmup",
        "0.2",
        "--products",
        "2",
    ]

    result = subprocess.run(
        command,
        env={**os.environ, **FAST_HASHING_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["pairs"] > 0
    assert figures["lost_total"] == 0
    assert figures["failures"] == {}
    assert figures["audit"]["clean"] is True
    assert figures["audit"]["items_bought"] >= figures["pairs"]
    assert figures["server"]["cpu_pct"] > 0
    assert figures["server"]["peak_rss_mib"] > 0


def test_bench_without_server_says_so() -> None:
    port = free_port()
    command = [sys.executable, "-m", "vending", "bench", "--url", f"http://127.0.0.1:{port}"]

    result = subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in result.stderr
    assert "--spawn" in result.stderr
    assert "Traceback" not in result.stderr
