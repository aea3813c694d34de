"""Starting a throwaway `vending serve` for `vending bench --spawn`."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


class SpawnError(Exception):
    """The spawned server did not start listening in time."""


@contextlib.contextmanager
def spawned_server(host: str, port: int, start_timeout: float = 20.0) -> Iterator[int]:
    """Run `vending serve` on a new SQLite file in a temporary folder; yield its pid.

    The server inherits this process's environment, so `VENDING_*` variables reach it. On exit it
    gets SIGINT (a graceful stop), then SIGKILL if it is still running 15 seconds later.
    """
    with tempfile.TemporaryDirectory(prefix="vending-bench-") as folder:
        database = f"sqlite:///{Path(folder) / 'bench.db'}"
        command = [
            sys.executable,
            "-m",
            "vending",
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            "--database",
            database,
            "--log-level",
            "warning",
        ]
        process = subprocess.Popen(command)
        log.info("spawned vending serve, pid %d, on %s:%d", process.pid, host, port)
        try:
            _wait_until_listening(process, host, port, start_timeout)
            yield process.pid
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                log.warning("spawned server %d did not stop in 15 s; killing it", process.pid)
                process.kill()
                process.wait()
            log.info("spawned server %d stopped with exit code %s", process.pid, process.returncode)


def _wait_until_listening(
    process: subprocess.Popen[bytes], host: str, port: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SpawnError(f"vending serve exited with code {process.returncode} at start")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise SpawnError(f"vending serve did not listen on {host}:{port} within {timeout:.0f} s")
