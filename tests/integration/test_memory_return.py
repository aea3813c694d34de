"""Freed large blocks go back to the system once the mmap threshold is fixed."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Allocates and frees a 19 MiB block twice, touching every page, and prints how much the
# resident set grew. Without a fixed threshold glibc serves the second block from the heap
# and keeps it resident after free.
PROBE = """
import ctypes, ctypes.util, sys
from pathlib import Path
from vending.memory import return_large_blocks_to_the_system

def rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

if sys.argv[1] == "fixed":
    return_large_blocks_to_the_system()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 19 * 1024 * 1024
before = rss_kib()
for _ in range(2):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
print(rss_kib() - before)
"""


def grown_kib(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tests glibc's malloc")
def test_freed_argon2_sized_block_returned() -> None:
    assert grown_kib("default") > 10 * 1024
    assert grown_kib("fixed") < 2 * 1024
