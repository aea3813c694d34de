"""TCP ports for the tests that start servers.

Set VENDING_TEST_PORTS to a range such as `8700-8749` to move every such test into it, on a
machine where other programs use the default ports.
"""

from __future__ import annotations

import os
import socket


def port_range(default: range) -> range:
    """Return the range VENDING_TEST_PORTS sets (both ends included), or `default`."""
    value = os.environ.get("VENDING_TEST_PORTS")
    if not value:
        return default
    first, _, last = value.partition("-")
    return range(int(first), int(last) + 1)


def free_port(ports: range) -> int:
    """Return a port of `ports` that nothing listens on."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")
