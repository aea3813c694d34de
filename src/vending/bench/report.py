"""Running a benchmark with a progress display, and the figures it prints."""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from vending.bench import procstat
from vending.bench.load import Bench, Options

_SAMPLE_SECONDS = 0.5


@dataclass(slots=True)
class ProcessWatch:
    """CPU time over the window and peak memory of one process (`pid` None: not watched)."""

    pid: int | None
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    peak_rss_kib: int = 0
    hwm_kib: int = 0
    errors: list[str] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        if self.pid is None:
            return 0.0
        try:
            return procstat.cpu_seconds(self.pid)
        except OSError as exc:
            self.errors.append(f"cannot read CPU time of pid {self.pid}: {exc}")
            return 0.0

    def sample_memory(self) -> None:
        if self.pid is None:
            return
        try:
            memory = procstat.memory(self.pid)
        except OSError as exc:
            self.errors.append(f"cannot read memory of pid {self.pid}: {exc}")
            return
        self.peak_rss_kib = max(self.peak_rss_kib, memory.rss_kib)
        self.hwm_kib = memory.hwm_kib


async def run(options: Options, server_pid: int | None, progress: TextIO) -> dict[str, Any]:
    """Set up, load and audit; return the run's figures as a JSON-ready dict."""
    bench = Bench(options)
    server = ProcessWatch(server_pid)
    driver = ProcessWatch(os.getpid())

    setup_started = time.perf_counter()
    await bench.setup()
    setup_seconds = time.perf_counter() - setup_started

    def at_window_edge() -> None:
        if bench.phase == "warm-up":
            server.cpu_start, driver.cpu_start = server.cpu_seconds(), driver.cpu_seconds()
        else:
            server.cpu_end, driver.cpu_end = server.cpu_seconds(), driver.cpu_seconds()

    watcher = asyncio.create_task(_watch(bench, server, progress))
    await bench.load(at_window_edge)
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    _end_progress(progress)

    audit = await bench.audit()
    return _figures(bench, server, driver, setup_seconds, audit)


async def _watch(bench: Bench, server: ProcessWatch, progress: TextIO) -> None:
    """Sample the server's memory and show progress every half second."""
    started = time.perf_counter()
    while True:
        if bench.phase in ("warm-up", "measure"):
            server.sample_memory()
        _show_progress(bench, time.perf_counter() - started, progress)
        await asyncio.sleep(_SAMPLE_SECONDS)


def _show_progress(bench: Bench, elapsed: float, progress: TextIO) -> None:
    window = bench.window
    measured = max(0.0, min(time.perf_counter(), window.end) - window.start)
    rate = window.pairs / measured if measured > 0 else 0.0
    line = (
        f"{bench.phase:8s} {elapsed:6.1f}s  pairs {window.pairs:8d} ({rate:7.1f}/s)  "
        f"in flight {bench.in_flight:5d}  lost {bench.lost_total}"
    )
    if progress.isatty():
        progress.write("\r" + line)
    elif int(elapsed / _SAMPLE_SECONDS) % 10 == 0:
        progress.write(line + "\n")
    progress.flush()


def _end_progress(progress: TextIO) -> None:
    if progress.isatty():
        progress.write("\n")
        progress.flush()


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ascending `sorted_values` (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _figures(
    bench: Bench,
    server: ProcessWatch,
    driver: ProcessWatch,
    setup_seconds: float,
    audit: dict[str, Any],
) -> dict[str, Any]:
    o = bench.options
    window = bench.window
    seconds = window.end - window.start
    latencies = sorted(window.latencies_ms)
    figures: dict[str, Any] = {
        "tool": "vending bench",
        "proto": o.proto,
        "prefer_async": o.prefer_async,
        "buyers": o.buyers,
        "duration_s": o.duration,
        "warmup_s": o.warmup,
        "poll_ms": o.poll * 1000,
        "lost_after_ms": o.lost_after * 1000,
        "setup_s": round(setup_seconds, 2),
        "window_s": round(seconds, 3),
        "pairs": window.pairs,
        "pairs_per_s": round(window.pairs / seconds, 1),
        "ops_per_s": round(window.operations / seconds, 1),
        "http_per_s": round(window.http_requests / seconds, 1),
        "latency_ms": {
            "n": len(latencies),
            "p50": round(percentile(latencies, 0.50), 2),
            "p95": round(percentile(latencies, 0.95), 2),
            "p99": round(percentile(latencies, 0.99), 2),
            "max": round(latencies[-1], 2) if latencies else 0.0,
        },
        "lost": window.lost,
        "lost_total": bench.lost_total,
        "failures": dict(bench.failures),
        "reconnects": bench.reconnects,
        "driver_cpu_pct": round(100 * (driver.cpu_end - driver.cpu_start) / seconds, 1),
        "audit": audit,
    }
    if server.pid is not None:
        figures["server"] = {
            "pid": server.pid,
            "cpu_pct": round(100 * (server.cpu_end - server.cpu_start) / seconds, 1),
            "peak_rss_mib": round(server.peak_rss_kib / 1024, 1),
            "vm_hwm_mib": round(server.hwm_kib / 1024, 1),
            "errors": server.errors,
        }
    return figures


def format_figures(figures: dict[str, Any]) -> str:
    """Return the figures as the readable summary that `vending bench` prints."""
    latency = figures["latency_ms"]
    audit = figures["audit"]
    proto = figures["proto"] + (", Prefer: respond-async" if figures["prefer_async"] else "")
    lines = [
        f"protocol {proto}; buyers {figures['buyers']}, window {figures['window_s']:.1f} s after "
        f"{figures['warmup_s']:.1f} s warm-up, poll {figures['poll_ms']:.0f} ms, "
        f"setup {figures['setup_s']:.1f} s",
        f"pairs      {figures['pairs']:9d}  {figures['pairs_per_s']:9.1f}/s  (deposit+buy)",
        f"operations {figures['ops_per_s']:20.1f}/s",
        f"http       {figures['http_per_s']:20.1f}/s",
        f"latency submit->final status (ms): p50 {latency['p50']:.2f}  p95 {latency['p95']:.2f}  "
        f"p99 {latency['p99']:.2f}  max {latency['max']:.2f}  (n {latency['n']})",
        f"lost       {figures['lost']} in window, {figures['lost_total']} in the whole run",
        f"failures   {figures['failures'] or 'none'}; reconnects {figures['reconnects']}",
        f"driver CPU {figures['driver_cpu_pct']:.1f}% of one core",
    ]
    server = figures.get("server")
    if server is None:
        lines.append("server     not watched (no --pid given and none found on the port)")
    else:
        lines.append(
            f"server     pid {server['pid']}: CPU {server['cpu_pct']:.1f}% of one core, "
            f"peak RSS {server['peak_rss_mib']:.1f} MiB in the run, "
            f"VmHWM {server['vm_hwm_mib']:.1f} MiB since start"
        )
        lines.extend(f"server     {error}" for error in server["errors"])
    lines.append(
        f"audit      {audit['buyers']} buyers: {audit['deposit_mismatches']} deposit mismatches "
        f"({audit['deposit_mismatches_without_lost_or_errors']} without lost or failed "
        f"operations), {audit['unreadable']} unreadable; stock decrease minus items bought "
        f"{audit['stock_diff']}, {audit['unreadable_products']} products unreadable "
        f"-> {'clean' if audit['clean'] else 'NOT CLEAN'}"
    )
    return "\n".join(lines)
