"""Assembly of processes: the whole system in one process (`serve`), a gateway alone, or one
worker alone. The only module that imports both the gateway and the workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp

from vending.gateway.app import Gateway, create_app
from vending.gateway.auth import Authenticator
from vending.gateway.hub import RequestHub
from vending.gateway.passwords import Cost, PasswordHasher
from vending.gateway.sessions import SessionManager
from vending.gateway.tokens import TokenCache, now_ms
from vending.queues.bus import Bus, LocalBus
from vending.queues.pg_bus import PgBus
from vending.queues.producer import Producer
from vending.settings import Settings, redact_url
from vending.store import migrate, repository
from vending.store.connect import open_database
from vending.store.database import Database
from vending.store.postgres import PostgresDatabase
from vending.store.purge import purge
from vending.workers.service import WORKERS, WorkerSet, lanes_of

log = logging.getLogger(__name__)


def build_gateway(database: Database, bus: Bus, settings: Settings) -> Gateway:
    """Build the gateway's parts on an upgraded database."""
    install_salt = database.write_now(lambda tx: repository.get_meta(tx, "install_salt"))
    assert install_salt is not None, "the database has not been migrated"
    tokens = TokenCache()
    hub = RequestHub(database, Producer(database, bus), bus, tokens)
    sessions = SessionManager(database, settings.session_ttl_seconds)
    hub.add_listener(lambda event, status: sessions.on_status(event))
    bus.add_resync_listener(tokens.clear)
    bus.add_resync_listener(sessions.forget_all)
    hasher = PasswordHasher(
        install_salt,
        Cost(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism),
        settings.hash_concurrency,
    )
    auth = Authenticator(
        database,
        hub,
        hasher,
        tokens,
        password_min_length=settings.password_min_length,
        token_ttl_seconds=settings.token_ttl_seconds,
        failures_per_account=settings.login_failures_per_account,
        failures_per_address=settings.login_failures_per_address,
    )
    return Gateway(
        database,
        hub,
        sessions,
        auth,
        hasher,
        settings.session_ttl_seconds,
        request_wait_seconds=settings.request_wait_seconds,
        status_poll_wait_seconds=settings.status_poll_wait_ms / 1000,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        cors_origins=settings.cors_origins,
    )


class Periodic:
    """Runs `job` every `interval` seconds in a task; a failure is logged and the next run
    happens on time."""

    def __init__(self, name: str, interval: float, job: Callable[[], Awaitable[None]]) -> None:
        self._name = name
        self._interval = interval
        self._job = job
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._job()
            except Exception:
                log.exception("%s failed", self._name)


def purger(database: Database, settings: Settings) -> Periodic:
    """Return the job that deletes expired rows every `purge_interval_seconds`."""
    s = settings

    async def purge_once() -> None:
        counts = await database.write(
            lambda tx: purge(
                tx,
                now_ms(),
                s.status_ttl_seconds * 1000,
                s.session_ttl_seconds * 1000,
                s.token_ttl_seconds * 1000,
                s.idempotency_ttl_seconds * 1000,
            )
        )
        if any(counts.values()):
            log.info("purged expired rows: %s", counts)

    return Periodic("purge of expired rows", s.purge_interval_seconds, purge_once)


def open_bus(database: Database, settings: Settings) -> Bus:
    """Return the bus for `database`: in memory on SQLite (one process), LISTEN/NOTIFY on
    PostgreSQL (any number of processes)."""
    if isinstance(database, PostgresDatabase):
        return PgBus(database.url, database, settings.poll_interval_seconds)
    return LocalBus()


def _ready_parts(settings: Settings, migrate_empty: bool) -> tuple[Database, Bus]:
    database = open_database(settings.database, settings)
    if migrate_empty:
        migrate.upgrade(database)
    else:
        missing = migrate.pending(database)
        if missing:
            raise ValueError(
                f"the database schema is not up to date ({len(missing)} pending migration(s)): "
                "run `vending db upgrade --database ...` first"
            )
    return database, open_bus(database, settings)


def _gateway_app(
    database: Database, bus: Bus, settings: Settings, workers: WorkerSet | None
) -> ASGIApp:
    gateway = build_gateway(database, bus, settings)
    jobs = [purger(database, settings)]
    if isinstance(bus, PgBus):
        jobs.append(
            Periodic(
                "status recheck",
                settings.poll_interval_seconds,
                lambda: _recheck(gateway),
            )
        )
    if workers is not None:
        gateway.ready_checks.append(lambda: workers.running)

    async def start_all() -> None:
        await bus.start()
        if workers is not None:
            await workers.start()
        for job in jobs:
            await job.start()

    async def stop_all() -> None:
        for job in jobs:
            await job.stop()
        if workers is not None:
            await workers.stop()
        await bus.close()
        gateway.hasher.close()
        await database.close()
        log.info("stopped")

    return create_app(gateway, on_startup=[start_all], on_shutdown=[stop_all])


async def _recheck(gateway: Gateway) -> None:
    await gateway.hub.recheck_pending(older_than=2.0)


def embedded_app(settings: Settings) -> ASGIApp:
    """Return the whole system as one ASGI app: gateway and both workers.

    Runs the migrations first, so that an empty database works at once.
    """
    database, bus = _ready_parts(settings, migrate_empty=True)
    workers = WorkerSet(
        [lane for name in WORKERS for lane in lanes_of(name, database, bus, settings)]
    )
    return _gateway_app(database, bus, settings, workers)


def gateway_app(settings: Settings) -> ASGIApp:
    """Return the gateway alone as an ASGI app; workers run in other processes."""
    database, bus = _ready_parts(settings, migrate_empty=False)
    return _gateway_app(database, bus, settings, None)


async def run_worker(name: str, settings: Settings, stop: asyncio.Event) -> None:
    """Run worker `name` until `stop` is set, then let each lane finish the batch in hand."""
    database, bus = _ready_parts(settings, migrate_empty=False)
    workers = WorkerSet(lanes_of(name, database, bus, settings))
    await bus.start()
    await workers.start()
    log.info("worker %s started (database %s)", name, redact_url(settings.database))
    await stop.wait()
    log.info("worker %s stopping", name)
    await workers.stop()
    await bus.close()
    await database.close()
    log.info("worker %s stopped", name)
