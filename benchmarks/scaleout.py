"""Measure deposit+buy pairs per second of the embedded and the scale-out profile, per protocol.

Each configuration runs as real `vending` processes on 127.0.0.1:

- `embedded`: `vending serve` on a new SQLite file;
- `1x1`: `vending cluster --gateways 1 --workers 1` on a new PostgreSQL database;
- `2x2`: `vending cluster --gateways 2 --workers 2` on a new PostgreSQL database.

On each configuration the load of `vending bench` (vending.bench.load) runs once per protocol,
seed and REST, one after the other on the same processes and database. Every buyer loops:
deposit one 5-cent coin, wait for its final status, buy one 5-cent item, wait for its final
status. With two gateways the buyers are split over them: one benchmark run per gateway at the
same time, each with its own seller and products, and the pairs are summed.

CPU time comes from /proc (Linux only): of the vending processes (`vending serve`, or
`vending cluster` and its children), and of the PostgreSQL backends serving the configuration's
database (the processes whose command line names it). CPU milliseconds per request divide that
time by the requests applied in the window, two per pair. The ratio divides a row's pairs per
second by the embedded row's of the same protocol. "lost" counts the operations of the whole run,
warm-up included, that had no final status 1 s after their submit.

    python benchmarks/scaleout.py --seconds 8 --warmup 2

The script creates a database on the --postgres server for each scale-out configuration and
drops it afterwards. It exits with status 1 when a configuration fails, an operation is lost or
an audit is not clean.

NOTE: the load driver runs on the same machine and takes CPU from the servers, so on a small
machine the pairs per second are a lower bound for the service itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import uvloop
from psycopg import sql

from vending.bench import procstat
from vending.bench.api import SetupError
from vending.bench.client import HttpError
from vending.bench.load import PROTOCOLS, Bench, Options, Proto
from vending.bench.report import percentile
from vending.store.postgres import check_reachable

# Fast password hashing, so that signing up the buyers takes a fraction of a second.
ENVIRONMENT = {"VENDING_ARGON2_TIME_COST": "1", "VENDING_ARGON2_MEMORY_KIB": "1024"}
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Config:
    """One deployment: `workers` processes of each worker kind, 0 for `vending serve`."""

    key: str
    title: str
    gateways: int
    workers: int


CONFIGS = {
    config.key: config
    for config in (
        Config("embedded", "embedded, SQLite", 1, 0),
        Config("1x1", "1 gateway, 1 worker each", 1, 1),
        Config("2x2", "2 gateways, 2 workers each", 2, 2),
    )
}


@dataclass
class CpuSample:
    """CPU seconds used so far, per pid, of the vending processes and of the backends."""

    vending: dict[int, float]
    postgres: dict[int, float]
    driver: float


@dataclass
class Row:
    """The figures of one configuration and protocol."""

    config: Config
    proto: Proto
    window_seconds: float = 0.0
    pairs_per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    lost: int = 0
    vending_cpu_seconds: float = 0.0
    postgres_cpu_seconds: float = 0.0
    driver_cpu_seconds: float = 0.0
    requests: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    audits_clean: bool = True
    deposits_off: int = 0
    deposits_off_without_lost: int = 0
    stock_off: int = 0
    error: str = ""


# ---------------------------------------------------------------- processes


class Deployment:
    """The processes of one configuration and its database; `stop` removes both."""

    def __init__(self, config: Config, postgres_url: str, first_port: int, folder: Path) -> None:
        self.config = config
        self.folder = folder
        self.ports = [first_port + index for index in range(config.gateways)]
        self._postgres_url = postgres_url
        self.dbname = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.vending_pids: list[int] = []

    def start(self) -> None:
        if self.config.workers == 0:
            database = f"sqlite:///{self.folder / 'bench.db'}"
            command = ["serve", "--host", HOST, "--port", str(self.ports[0])]
        else:
            database = self._create_database()
            command = [
                "cluster",
                "--gateways",
                str(self.config.gateways),
                "--workers",
                str(self.config.workers),
                "--host",
                HOST,
                "--port",
                str(self.ports[0]),
            ]
        command += ["--database", database, "--log-level", "warning"]
        with (self.folder / "server.log").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vending", *command],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **ENVIRONMENT},
                # A Ctrl-C in the terminal reaches only this script, which then stops the set.
                start_new_session=True,
            )
        for port in self.ports:
            self._wait_healthy(port)
        self.vending_pids = [self.process.pid, *procstat.children(self.process.pid)]

    def _create_database(self) -> str:
        self.dbname = "vending_bench_" + secrets.token_hex(4)
        with psycopg.connect(self._postgres_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))
        return urlsplit(self._postgres_url)._replace(path="/" + self.dbname).geturl()

    def _wait_healthy(self, port: int) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"vending exited with status {self.process.returncode} at start; "
                    f"see {self.folder / 'server.log'}"
                )
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"port {port} was not healthy within {START_TIMEOUT_SECONDS:.0f} s; "
            f"see {self.folder / 'server.log'}"
        )

    def sample_cpu(self) -> CpuSample:
        postgres_pids = _backends(self.dbname) if self.dbname else []
        return CpuSample(
            vending=_cpu_by_pid(self.vending_pids),
            postgres=_cpu_by_pid(postgres_pids),
            driver=time.process_time(),
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"pid {self.process.pid} did not stop in time; killing it", file=sys.stderr)
                self.process.kill()
                self.process.wait()
        if self.dbname:
            with psycopg.connect(self._postgres_url, autocommit=True) as connection:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.dbname)
                    )
                )


def _backends(dbname: str) -> list[int]:
    """Return the pids of the `postgres` processes whose command line names `dbname`."""
    return [
        pid
        for pid, words in procstat.command_lines().items()
        if words and words[0] == "postgres:" and dbname in words
    ]


def _cpu_by_pid(pids: list[int]) -> dict[int, float]:
    cpu = {}
    for pid in pids:
        try:
            cpu[pid] = procstat.cpu_seconds(pid)
        except OSError:
            continue
    return cpu


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """Return the CPU seconds used between two samples.

    A process that started between them counts from zero.
    """
    # NOTE: a process that exited between the samples is left out, and so is the CPU it used.
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


# ---------------------------------------------------------------- load


async def measure(
    deployment: Deployment, proto: Proto, buyers: int, seconds: float, warmup: float
) -> Row:
    """Run one benchmark per gateway at the same time and combine their figures."""
    row = Row(deployment.config, proto)
    benches = [
        Bench(Options(HOST, port, proto=proto, buyers=share, duration=seconds, warmup=warmup))
        for port, share in zip(deployment.ports, _split(buyers, len(deployment.ports)), strict=True)
    ]
    await asyncio.gather(*(bench.setup() for bench in benches))

    samples: list[CpuSample] = []

    def at_window_edge() -> None:
        samples.append(deployment.sample_cpu())

    first, *others = benches
    await asyncio.gather(first.load(at_window_edge), *(bench.load() for bench in others))
    audits = [await bench.audit() for bench in benches]

    start, end = samples
    latencies = sorted(value for bench in benches for value in bench.window.latencies_ms)
    pairs = sum(bench.window.pairs for bench in benches)
    row.window_seconds = first.window.end - first.window.start
    row.pairs_per_second = sum(
        bench.window.pairs / (bench.window.end - bench.window.start) for bench in benches
    )
    row.p50_ms = percentile(latencies, 0.50)
    row.p99_ms = percentile(latencies, 0.99)
    row.lost = sum(bench.lost_total for bench in benches)
    row.vending_cpu_seconds = _cpu_used(start.vending, end.vending)
    row.postgres_cpu_seconds = _cpu_used(start.postgres, end.postgres)
    row.driver_cpu_seconds = end.driver - start.driver
    row.requests = 2 * pairs
    for bench in benches:
        row.failures.update(bench.failures)
    row.audits_clean = all(audit["clean"] for audit in audits)
    row.deposits_off = sum(audit["deposit_mismatches"] for audit in audits)
    row.deposits_off_without_lost = sum(
        audit["deposit_mismatches_without_lost_or_errors"] for audit in audits
    )
    row.stock_off = sum(audit["stock_diff"] for audit in audits)
    return row


def _split(total: int, parts: int) -> list[int]:
    """Split `total` buyers into `parts` shares that differ by at most one."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def run_config(
    config: Config, protos: list[Proto], args: argparse.Namespace, embedded: dict[str, float]
) -> list[Row]:
    """Start one configuration, measure each protocol on it and print its rows."""
    folder = Path(tempfile.mkdtemp(prefix="vending-scaleout-"))
    deployment = Deployment(config, args.postgres, args.port, folder)
    rows: list[Row] = []
    try:
        deployment.start()
        for proto in protos:
            print(f"# {config.title}, {proto}: running", file=sys.stderr, flush=True)
            try:
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    row = runner.run(
                        measure(deployment, proto, args.buyers, args.seconds, args.warmup)
                    )
            except (HttpError, SetupError) as exc:
                row = Row(config, proto, error=str(exc))
            if config.workers == 0 and not row.error:
                embedded[proto] = row.pairs_per_second
            print(format_row(row, embedded.get(proto)), flush=True)
            rows.append(row)
    except (RuntimeError, OSError, psycopg.Error) as exc:
        row = Row(config, protos[0], error=f"start failed: {exc}")
        print(format_row(row, None), flush=True)
        rows.append(row)
    finally:
        deployment.stop()
    failed = any(row.error or row.lost or not row.audits_clean for row in rows)
    if failed:
        print(f"# process logs of {config.title} are in {folder}", flush=True)
    else:
        shutil.rmtree(folder)
    return rows


# ---------------------------------------------------------------- report

HEADER = (
    f"{'configuration':27} {'proto':5} {'pairs/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'lost':>5}  "
    f"{'CPU % of a core':>21}  {'CPU ms/request':>21} {'ratio':>6} {'driver':>7}  audit\n"
    f"{'':27} {'':5} {'':>8} {'':>7} {'':>7} {'':>5}  "
    f"{'vending':>10} {'postgres':>10}  {'vending':>10} {'postgres':>10} {'':>6} {'CPU %':>7}"
)


def format_row(row: Row, embedded_pairs_per_second: float | None) -> str:
    """Return one table line; the ratio is left out without an embedded figure."""
    if row.error:
        return f"{row.config.title:27} {row.proto:5} failed: {row.error}"
    seconds = row.window_seconds
    postgres = row.config.workers > 0

    def per_request(cpu_seconds: float) -> str:
        return f"{1000 * cpu_seconds / row.requests:10.3f}" if row.requests else f"{'-':>10}"

    ratio = (
        f"{row.pairs_per_second / embedded_pairs_per_second:6.2f}"
        if embedded_pairs_per_second
        else f"{'-':>6}"
    )
    line = (
        f"{row.config.title:27} {row.proto:5} {row.pairs_per_second:8.1f} {row.p50_ms:7.1f} "
        f"{row.p99_ms:7.1f} {row.lost:5d}  "
        f"{100 * row.vending_cpu_seconds / seconds:10.1f} "
        + (f"{100 * row.postgres_cpu_seconds / seconds:10.1f}  " if postgres else f"{'-':>10}  ")
        + f"{per_request(row.vending_cpu_seconds)} "
        + (f"{per_request(row.postgres_cpu_seconds)} " if postgres else f"{'-':>10} ")
        + f"{ratio} {100 * row.driver_cpu_seconds / seconds:7.1f}  "
        + ("clean" if row.audits_clean else "NOT CLEAN")
    )
    if not row.audits_clean:
        # A lost operation may still take effect after the driver gave up on it, so a deposit
        # that differs only for a buyer with a lost operation is not a fault of the service.
        line += (
            f"\n{'':33}audit: {row.deposits_off} deposits differ "
            f"({row.deposits_off_without_lost} without a lost operation), "
            f"stock differs by {row.stock_off}"
        )
    if row.failures:
        line += f"\n{'':33}failures: {dict(row.failures)}"
    return line


def describe_machine(args: argparse.Namespace, configs: list[Config]) -> str:
    load_average = " ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        f"# {os.cpu_count()} CPUs, load average {load_average}; Python {sys.version.split()[0]}; "
        f"{args.buyers} buyers; {args.seconds:g} s measured after {args.warmup:g} s warm-up"
    ]
    if any(config.workers for config in configs):
        with psycopg.connect(args.postgres, autocommit=True) as connection:
            version = connection.execute("SHOW server_version").fetchone()
        lines.append(f"# PostgreSQL {version[0] if version else 'of unknown version'}")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=8.0,
        help="measured window, in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of load before the window (default: %(default)s)",
    )
    parser.add_argument(
        "--buyers",
        type=int,
        default=100,
        help="concurrent buyers, split over the gateways (default: %(default)s)",
    )
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help="comma-separated configurations, from %(default)s",
    )
    parser.add_argument(
        "--protos",
        default=",".join(PROTOCOLS),
        help="comma-separated protocols, from %(default)s",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8770,
        help="port of the first gateway; two gateways take it and the next (default: %(default)s)",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="URL of the PostgreSQL server; each scale-out configuration creates and drops a "
        "database of its own there (default: %(default)s)",
    )
    args = parser.parse_args()
    args.config_list = _choices(parser, "--configs", args.configs, list(CONFIGS))
    args.proto_list = _choices(parser, "--protos", args.protos, list(PROTOCOLS))
    if args.seconds <= 0:
        parser.error(f"--seconds {args.seconds:g} is invalid: expected a positive number")
    if args.warmup < 0:
        parser.error(f"--warmup {args.warmup:g} is invalid: expected 0 or more")
    if any(CONFIGS[key].workers for key in args.config_list):
        try:
            check_reachable(args.postgres)
        except ValueError as exc:
            parser.error(f"--postgres: {exc}")
    gateways = max(CONFIGS[key].gateways for key in args.config_list)
    if args.buyers < gateways:
        parser.error(f"--buyers {args.buyers} is less than the {gateways} gateways to split over")
    return args


def _choices(parser: argparse.ArgumentParser, option: str, value: str, known: list[str]) -> Any:
    chosen = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown or not chosen:
        parser.error(f"{option} {value!r} is invalid: expected some of {', '.join(known)}")
    return chosen


def main() -> int:
    args = parse_arguments()
    # The embedded configuration runs first, so that the scale-out rows can show their ratio.
    configs = [config for key, config in CONFIGS.items() if key in args.config_list]
    print(describe_machine(args, configs), flush=True)
    print(HEADER, flush=True)
    embedded: dict[str, float] = {}
    rows: list[Row] = []
    for config in configs:
        rows.extend(run_config(config, args.proto_list, args, embedded))
    failed = any(row.error or row.lost or not row.audits_clean for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
