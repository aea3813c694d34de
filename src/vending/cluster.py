"""`vending cluster`: the scale-out set as child processes of one command, for a quick look.

A real deployment runs each process under its own supervisor (see docker-compose.yml).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from types import FrameType

from vending.settings import Settings

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 15.0


class Cluster:
    """Starts `gateways` gateways on ports `settings.port`, `settings.port + 1`, ... and
    `workers` processes of each worker kind; stops them all when one exits or on a signal."""

    def __init__(self, settings: Settings, gateways: int, workers: int) -> None:
        self._settings = settings
        self._commands: list[list[str]] = []
        common = ["--database", settings.database, "--log-level", settings.log_level]
        for index in range(gateways):
            port = str(settings.port + index)
            self._commands.append(["gateway", "--host", settings.host, "--port", port, *common])
        for name in ("gatekeeper", "stock-handler"):
            self._commands.extend(["worker", name, *common] for _ in range(workers))
        self._children: list[subprocess.Popen[bytes]] = []
        self._stopping = False

    def run(self) -> int:
        """Run until a signal or a child's exit; return the exit status for the command."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for command in self._commands:
                child = subprocess.Popen([sys.executable, "-m", "vending", *command])
                # The command without its options: the database URL may hold a password.
                role = command[: command.index("--database")]
                log.info("started pid %d: vending %s", child.pid, " ".join(role))
                self._children.append(child)
            status = self._watch()
        finally:
            self._stop_children()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return status

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("cluster stopping on signal %d", signum)
        self._stopping = True

    def _watch(self) -> int:
        while not self._stopping:
            for child in self._children:
                code = child.poll()
                if code is not None:
                    log.error("pid %d exited with status %d; stopping the cluster", child.pid, code)
                    return 1
            time.sleep(0.2)
        return 0

    def _stop_children(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in self._children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("pid %d did not stop in time; killing it", child.pid)
                child.kill()
                child.wait()
        log.info("cluster stopped")
