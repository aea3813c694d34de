"""The `vending` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
import uvicorn
import uvloop
from pydantic import ValidationError

from vending.logs import configure
from vending.settings import Settings, redact_url

if TYPE_CHECKING:
    from vending.bench.load import Proto

log = logging.getLogger("vending")


def _settings(**overrides: Any) -> Settings:
    """Return the settings: command-line values over `VENDING_*` variables over `.env`.

    Raise click.UsageError naming the setting when a value is invalid.
    """
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            variable = f"VENDING_{name.upper()}"
            problems.append(f"invalid setting {name} ({variable}): {error['msg']}")
        raise click.UsageError("; ".join(problems)) from None


database_option = click.option(
    "--database",
    help="Database URL: sqlite:///path/to/file.db or postgresql://user@host/db "
    "[default: sqlite:///vending.db; env: VENDING_DATABASE].",
)
log_level_option = click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Lowest level of the log lines printed [default: info; env: VENDING_LOG_LEVEL].",
)


@click.group()
@click.version_option(package_name="vending")
def main() -> None:
    """A vending machine service: a gateway, FIFO queues and workers.

    Every option can also be set with a VENDING_* environment variable or in a .env file in the
    current directory. Other settings (argon2 cost, timeouts, limits) exist only as variables.
    """


host_option = click.option(
    "--host", help="Address to listen on [default: 127.0.0.1; env: VENDING_HOST]."
)
port_option = click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="TCP port to listen on [default: 8000; env: VENDING_PORT].",
)


@main.command()
@host_option
@port_option
@database_option
@log_level_option
def serve(host: str | None, port: int | None, database: str | None, log_level: str | None) -> None:
    """Run the whole system in one process: gateway and both workers.

    Creates the schema on an empty database. On PostgreSQL, more gateways and workers may run
    beside it against the same database.
    """
    settings = _settings(host=host, port=port, database=database, log_level=log_level)
    configure(settings.log_level)
    from vending.runtime import embedded_app

    _run_server(embedded_app, settings)


def _run_server(build: Callable[[Settings], Any], settings: Settings) -> None:
    """Build the app with `build(settings)` and serve it on uvloop until SIGINT or SIGTERM."""
    from vending.memory import return_large_blocks_to_the_system

    return_large_blocks_to_the_system()
    # Worker threads (the SQLite writer, database drivers) give up the GIL around every
    # statement. At Python's default 5 ms switch interval each then waits up to 5 ms to get it
    # back from the busy event loop, many times per batch. A shorter interval cuts that wait.
    sys.setswitchinterval(settings.switch_interval_ms / 1000)
    try:
        app = build(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    # uvicorn's `loop` setting applies only when uvicorn creates the loop, so create it here.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(app, settings))


def _absorb_signal(signum: int, frame: FrameType | None) -> None:
    """Ignore a SIGINT or SIGTERM that uvicorn raises again after its graceful shutdown.

    uvicorn's `Server.capture_signals` restores the previous handlers when the server has
    stopped and raises each captured signal again. With the default handlers the process would
    then die of that signal instead of exiting with status 0.
    """


@main.command()
@host_option
@port_option
@database_option
@log_level_option
def gateway(
    host: str | None, port: int | None, database: str | None, log_level: str | None
) -> None:
    """Run only the gateway (PostgreSQL); the workers run as `vending worker` processes."""
    settings = _settings(host=host, port=port, database=database, log_level=log_level)
    configure(settings.log_level)
    from vending.runtime import gateway_app

    _run_server(gateway_app, settings)


@main.command()
@click.argument("name", type=click.Choice(["gatekeeper", "stock-handler"]))
@database_option
@log_level_option
def worker(name: str, database: str | None, log_level: str | None) -> None:
    """Run one worker: the gatekeeper (accounts, tokens, deposits) or the stock-handler
    (products, buying). SIGINT or SIGTERM stops it after the batch in hand."""
    settings = _settings(database=database, log_level=log_level)
    configure(settings.log_level)
    from vending.runtime import run_worker

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(name, settings, stop)

    try:
        asyncio.run(run())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@main.command()
@click.option(
    "--gateways", type=click.IntRange(1, 32), default=2, show_default=True, help="Gateways."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=2,
    show_default=True,
    help="Processes of each worker kind.",
)
@host_option
@port_option
@database_option
@log_level_option
def cluster(
    gateways: int,
    workers: int,
    host: str | None,
    port: int | None,
    database: str | None,
    log_level: str | None,
) -> None:
    """Start the scale-out set on this machine, all on one PostgreSQL database: gateways on
    consecutive ports from --port, and --workers processes of each worker kind.

    Upgrades the schema first. SIGINT or SIGTERM stops every process gracefully.
    """
    settings = _settings(host=host, port=port, database=database, log_level=log_level)
    configure(settings.log_level)
    from vending.cluster import Cluster
    from vending.store import migrate
    from vending.store.connect import open_database

    if settings.database.startswith("sqlite:"):
        raise click.UsageError("a cluster needs PostgreSQL: give --database postgresql://...")
    try:
        store = open_database(settings.database, settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    migrate.upgrade(store)
    asyncio.run(store.close())
    sys.exit(Cluster(settings, gateways, workers).run())


async def _serve(app: Any, settings: Settings) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _absorb_signal)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=10,
        # Client addresses (used by the failed-login limit) are the TCP peers; X-Forwarded-For
        # from a local process is not trusted.
        proxy_headers=False,
        log_config=None,
    )
    server = uvicorn.Server(config)

    async def announce_ready() -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        log.info(
            "vending ready on http://%s:%d (database %s)",
            settings.host,
            _bound_port(server, settings),
            redact_url(settings.database),
        )

    announcer = asyncio.create_task(announce_ready())
    try:
        await server.serve()
    except SystemExit:
        # uvicorn exits this way when it cannot start, after logging why (a port in use).
        pass
    finally:
        announcer.cancel()
    if not server.started:
        raise click.ClickException("the server failed to start; the error is in the log line above")


def _bound_port(server: uvicorn.Server, settings: Settings) -> int:
    for srv in server.servers:
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    return settings.port


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@database_option
@log_level_option
def upgrade(database: str | None, log_level: str | None) -> None:
    """Create or upgrade the schema to the latest version."""
    settings = _settings(database=database, log_level=log_level)
    configure(settings.log_level)
    from vending.store import migrate
    from vending.store.connect import open_database

    try:
        store = open_database(settings.database, settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    applied = migrate.upgrade(store)
    asyncio.run(store.close())
    click.echo(f"applied {len(applied)} migration(s)" if applied else "schema is up to date")


@main.command()
@database_option
@log_level_option
def audit(database: str | None, log_level: str | None) -> None:
    """Recompute every balance and stock level from the ledger; exit 1 on any difference."""
    settings = _settings(database=database, log_level=log_level)
    configure(settings.log_level)
    from vending.store import migrate
    from vending.store.audit import audit as run_audit
    from vending.store.connect import open_database
    from vending.store.sqlite import sqlite_path

    if settings.database.startswith("sqlite:"):
        path = Path(sqlite_path(settings.database))
        if not path.is_file():
            raise click.UsageError(
                f"no database file at {path.resolve()}: give the one the service uses "
                "with --database sqlite:///path/to/file.db"
            )
    try:
        store = open_database(settings.database, settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    migrate.upgrade(store)
    report = store.write_now(run_audit)
    asyncio.run(store.close())
    click.echo(f"checked {report.users_checked} users and {report.products_checked} products")
    for uid, stored, computed in report.deposit_differences:
        click.echo(f"deposit of {uid}: stored {stored}, ledger {computed}")
    for uid, stored, computed in report.stock_differences:
        click.echo(f"stock of product {uid}: stored {stored}, ledger {computed}")
    if not report.clean:
        sys.exit(1)
    click.echo("no differences")


@main.command()
@click.option(
    "--url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Base URL of the service; only loopback addresses are accepted.",
)
@click.option(
    "--proto",
    type=click.Choice(["seed", "rest"]),
    default="seed",
    show_default=True,
    help="Protocol: the seed protocol, or the REST API v1 with bearer tokens.",
)
@click.option(
    "--prefer-async",
    is_flag=True,
    help="REST only: send `Prefer: respond-async`, so that every deposit and buy returns 202 "
    "and its result is polled.",
)
@click.option(
    "-c",
    "--buyers",
    type=click.IntRange(1, 5000),
    default=100,
    show_default=True,
    help="Concurrent buyers, each on its own keep-alive connection.",
)
@click.option(
    "-d",
    "--duration",
    type=click.FloatRange(1, 600),
    default=15.0,
    show_default=True,
    help="Measured window, in seconds.",
)
@click.option(
    "--warmup",
    type=click.FloatRange(0, 60),
    default=2.0,
    show_default=True,
    help="Seconds of load before the window, not counted.",
)
@click.option(
    "--poll",
    type=click.FloatRange(0, 1000),
    default=20.0,
    show_default=True,
    help="Milliseconds between status polls of one operation. Seed: the first poll is at once; "
    "REST: polls follow a 202 response, the first after this interval.",
)
@click.option(
    "--lost-after",
    type=click.FloatRange(10, 60000),
    default=1000.0,
    show_default=True,
    help="Milliseconds after which an operation with no final status counts as lost.",
)
@click.option(
    "--products",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Products the benchmark's seller creates.",
)
@click.option("--pid", type=int, help="Server process to watch [default: the one on the port].")
@click.option(
    "--spawn",
    is_flag=True,
    help="Start `vending serve` on a new SQLite file in a temporary folder, then stop it.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    help="Append the figures to this file as one JSON line.",
)
def bench(
    url: str,
    proto: Proto,
    prefer_async: bool,
    buyers: int,
    duration: float,
    warmup: float,
    poll: float,
    lost_after: float,
    products: int,
    pid: int | None,
    spawn: bool,
    json_path: str | None,
) -> None:
    """Drive a running service with buyers looping deposit -> status -> buy -> status."""
    configure("WARNING")
    from vending.bench.api import SetupError
    from vending.bench.client import HttpError
    from vending.bench.load import Options
    from vending.bench.spawn import SpawnError

    if prefer_async and proto != "rest":
        raise click.UsageError("--prefer-async applies to --proto rest only")
    host, port = _loopback_address(url)
    options = Options(
        host=host,
        port=port,
        proto=proto,
        prefer_async=prefer_async,
        buyers=buyers,
        duration=duration,
        warmup=warmup,
        poll=poll / 1000,
        lost_after=lost_after / 1000,
        products=products,
    )
    try:
        figures = _run_bench(options, pid, spawn)
    except HttpError as exc:
        raise click.ClickException(
            f"{exc}. Start the service with `vending serve`, or pass --spawn."
        ) from exc
    except (SetupError, SpawnError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    _print_figures(figures, json_path)
    if figures["lost"] or not figures["audit"]["clean"]:
        sys.exit(1)


def _loopback_address(url: str) -> tuple[str, int]:
    """Return the host and port of a loopback `http://` URL; raise UsageError for others."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or not host:
        raise click.UsageError(f"--url {url!r} is invalid: expected http://HOST:PORT")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise click.UsageError(
            f"--url host {host!r} is not a loopback address: the benchmark only targets "
            "127.0.0.0/8, ::1 or localhost"
        )
    return host, parts.port or 80


def _run_bench(options: Any, pid: int | None, spawn: bool) -> dict[str, Any]:
    from vending.bench import procstat, report
    from vending.bench.spawn import spawned_server

    with contextlib.ExitStack() as stack:
        if spawn:
            pid = stack.enter_context(spawned_server(options.host, options.port))
        elif pid is None:
            pid = procstat.listening_pid(options.port)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            figures = runner.run(report.run(options, pid, sys.stderr))
    return figures


def _print_figures(figures: dict[str, Any], json_path: str | None) -> None:
    import json

    from vending.bench.report import format_figures

    click.echo(format_figures(figures))
    line = json.dumps(figures)
    click.echo(line)
    if json_path is not None:
        with open(json_path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
