"""Gateway and worker processes of the scale-out profile, started as `python -m vending`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

TEST_ENVIRONMENT = {
    "VENDING_ARGON2_TIME_COST": "1",
    "VENDING_ARGON2_MEMORY_KIB": "1024",
    "VENDING_PASSWORD_MIN_LENGTH": "3",
    "VENDING_PG_POOL_SIZE": "4",
}
"""Cheap password hashing, so that a test can sign up many users, and small pools."""


class VendingProcess:
    """One `vending` command running in the background, its output in a log file."""

    def __init__(self, args: list[str], log_dir: Path, name: str) -> None:
        self.args = args
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        environment = {**os.environ, **TEST_ENVIRONMENT}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vending", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environment,
        )

    def kill(self) -> None:
        """Send SIGKILL: the process dies at once, in whatever transaction it is in."""
        self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 15.0) -> int:
        """Send SIGTERM, wait for the exit and return its status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_healthy(base_url: str, process: VendingProcess, timeout: float = 20.0) -> None:
    """Wait until the gateway at `base_url` returns 200 on /healthz; fail with its log if it
    exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise AssertionError(f"vending {process.args[0]} exited:\n{process.output()}")
        try:
            if httpx.get(base_url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"gateway {base_url} not healthy in {timeout} s:\n{process.output()}")


class ScaleOutSet:
    """Gateways on consecutive ports from `first_port`, and workers of each kind."""

    def __init__(self, database: str, first_port: int, log_dir: Path) -> None:
        self.database = database
        self.first_port = first_port
        self.log_dir = log_dir
        self.gateways: list[VendingProcess] = []
        self.workers: list[VendingProcess] = []
        self.urls: list[str] = []

    def start_gateways(self, count: int) -> None:
        for index in range(count):
            port = self.first_port + index
            process = VendingProcess(
                ["gateway", "--port", str(port), "--database", self.database],
                self.log_dir,
                f"gateway-{index}",
            )
            self.gateways.append(process)
            self.urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(self.urls, self.gateways, strict=True):
            wait_healthy(url, process)

    def start_worker(self, name: str) -> VendingProcess:
        process = VendingProcess(
            ["worker", name, "--database", self.database],
            self.log_dir,
            f"{name}-{len(self.workers)}",
        )
        self.workers.append(process)
        return process

    def stop(self) -> dict[str, int]:
        """Stop every process gracefully; return each log name's exit status."""
        return {
            process.log_path.stem: process.stop() for process in [*self.gateways, *self.workers]
        }
