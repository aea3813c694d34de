"""Assembly of processes: which parts run where. The only module that sees both the gateway
and the workers."""

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
from vending.queues.producer import Producer
from vending.settings import Settings
from vending.store import migrate, repository
from vending.store.connect import open_database
from vending.store.database import Database
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
    return Gateway(database, hub, sessions, auth, hasher, settings.session_ttl_seconds)


class Purger:
    """Deletes expired rows every `purge_interval_seconds`."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self._settings = settings
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        s = self._settings
        while True:
            await asyncio.sleep(s.purge_interval_seconds)
            try:
                counts = await self._database.write(
                    lambda tx: purge(
                        tx,
                        now_ms(),
                        s.status_ttl_seconds * 1000,
                        s.session_ttl_seconds * 1000,
                        s.token_ttl_seconds * 1000,
                        s.idempotency_ttl_seconds * 1000,
                    )
                )
            except Exception:
                log.exception("purge of expired rows failed")
                continue
            if any(counts.values()):
                log.info("purged expired rows: %s", counts)


def embedded_app(settings: Settings) -> ASGIApp:
    """Return the whole system as one ASGI app: gateway, both workers, one SQLite file."""
    database = open_database(settings.database, settings)
    migrate.upgrade(database)
    bus = LocalBus()
    gateway = build_gateway(database, bus, settings)
    workers = WorkerSet(
        [lane for name in WORKERS for lane in lanes_of(name, database, bus, settings)]
    )
    gateway.ready_checks.append(lambda: workers.running)
    purger = Purger(database, settings)

    async def stop_all() -> None:
        await purger.stop()
        await workers.stop()
        gateway.hasher.close()
        await database.close()
        log.info("stopped")

    startup: list[Callable[[], Awaitable[None]]] = [bus.start, workers.start, purger.start]
    return create_app(gateway, on_startup=startup, on_shutdown=[stop_all])
