"""CPU time and memory of a process, read from Linux's /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Memory:
    """Resident set size now (`rss_kib`) and its peak since the process started (`hwm_kib`)."""

    rss_kib: int
    hwm_kib: int


def _stat_fields(pid: int) -> list[str]:
    """Return the fields of /proc/PID/stat that follow the command name (field 3 onwards)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces, so split after its closing bracket.
    return stat[stat.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time that process `pid` has used, in seconds."""
    fields = _stat_fields(pid)
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS_PER_SECOND


def children(parent: int) -> list[int]:
    """Return the ids of the running processes whose parent is `parent`."""
    found = []
    for pid in _running():
        try:
            if int(_stat_fields(pid)[1]) == parent:
                found.append(pid)
        except OSError:
            continue
    return found


def command_lines() -> dict[int, list[str]]:
    """Return the command line of each running process that can be read, by process id."""
    lines = {}
    for pid in _running():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            lines[pid] = raw.replace(b"\0", b" ").decode().split()
        except (OSError, UnicodeDecodeError):
            continue
    return lines


def _running() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def memory(pid: int) -> Memory:
    """Return the VmRSS and VmHWM of process `pid`."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return Memory(rss_kib=values.get("VmRSS", 0), hwm_kib=values.get("VmHWM", 0))


def listening_pid(port: int) -> int | None:
    """Return the pid of the process listening on TCP `port`, or None if none is visible.

    It finds the listening socket's inode in /proc/net/tcp and tcp6, then the process that
    has a descriptor open on it. Processes of other users are skipped, since their fds cannot
    be read.
    """
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return int(entry.name)
        except OSError:
            continue
    return None


def _listening_inodes(port: int) -> set[str]:
    listen_state = "0A"
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == listen_state:
                inodes.add(fields[9])
    return inodes
