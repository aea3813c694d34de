"""TCP ports for the tests that start servers.

Set VENDING_TEST_PORTS to a range such as `8700-8749` to move every such test into it, on a
machine where other programs use the default ports.
"""

from __future__ import annotations

import os


def port_range(default: range) -> range:
    """Return the range VENDING_TEST_PORTS sets (both ends included), or `default`."""
    value = os.environ.get("VENDING_TEST_PORTS")
    if not value:
        return default
    first, _, last = value.partition("-")
    return range(int(first), int(last) + 1)
