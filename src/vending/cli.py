"""The `vending` command."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from types import FrameType
from typing import Any

import click
import uvicorn

from vending.logs import configure
from vending.settings import Settings, redact_url

log = logging.getLogger("vending")


def _settings(**overrides: Any) -> Settings:
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


database_option = click.option(
    "--database", help="Database URL: sqlite:///path/to/file.db or postgresql://host/db."
)
log_level_option = click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Lowest level of the log lines printed.",
)


@click.group()
@click.version_option(package_name="vending")
def main() -> None:
    """A vending machine service: a gateway, FIFO queues and workers."""


host_option = click.option("--host", help="Address to listen on [default: 127.0.0.1].")
port_option = click.option("--port", type=int, help="TCP port to listen on [default: 8000].")


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

    try:
        app = embedded_app(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    asyncio.run(_serve(app, settings))


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

    try:
        app = gateway_app(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    asyncio.run(_serve(app, settings))


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
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        log.info(
            "vending ready on http://%s:%d (database %s)",
            settings.host,
            _bound_port(server, settings),
            redact_url(settings.database),
        )
    await task
    if not server.started:
        sys.exit(1)


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

    store = open_database(settings.database, settings)
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

    store = open_database(settings.database, settings)
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
