"""Process-wide memory settings of the server."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 1024 * 1024


def return_large_blocks_to_the_system() -> None:
    """Make glibc serve every allocation of 1 MiB or more with its own mmap.

    Each argon2 hash allocates its whole memory cost (19 MiB by default) at once. glibc raises
    its mmap threshold after the first such block is freed, so later blocks come from the heap of
    the hashing thread and stay resident after the hash: about 40 MB for two hashing threads.
    A fixed threshold returns them to the system on free. Elsewhere than Linux with glibc,
    this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.info("mallopt is not available; large freed blocks may stay resident")
        return
    if mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES) != 1:
        log.warning("mallopt(M_MMAP_THRESHOLD) failed; large freed blocks may stay resident")
