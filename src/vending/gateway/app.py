"""The gateway's ASGI application."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from vending.gateway.auth import Authenticator
from vending.gateway.fastpath import SeedFastPath
from vending.gateway.hub import RequestHub
from vending.gateway.passwords import PasswordHasher
from vending.gateway.seed import ANY_METHOD, SeedProtocol
from vending.gateway.sessions import SessionManager
from vending.queues import fifo
from vending.store.database import Database

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    """The gateway's parts, shared by the protocols it serves."""

    database: Database
    hub: RequestHub
    sessions: SessionManager
    auth: Authenticator
    hasher: PasswordHasher
    session_ttl_seconds: int
    ready_checks: list[Callable[[], bool]] = field(default_factory=list)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def no_content(request: Request) -> Response:
    return Response(status_code=204)


def create_app(
    gateway: Gateway,
    on_startup: Sequence[Callable[[], Awaitable[None]]] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    extra_routes: Sequence[BaseRoute] = (),
) -> ASGIApp:
    """Build the ASGI app. `on_startup` and `on_shutdown` run in the app's lifespan, so that
    whoever assembles the process (one process or many) decides what runs beside the gateway.

    The busiest seed routes are answered by `SeedFastPath` before Starlette sees them."""
    seed = SeedProtocol(
        gateway.database, gateway.hub, gateway.sessions, gateway.auth, gateway.session_ttl_seconds
    )

    async def readyz(request: Request) -> Response:
        try:
            backlog = await gateway.database.read(fifo.backlog)
        except Exception as exc:
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "unavailable", "database": str(exc)}, 503)
        workers_ok = all(check() for check in gateway.ready_checks)
        body = {"status": "ok" if workers_ok else "unavailable", "backlog": backlog}
        return JSONResponse(body, 200 if workers_ok else 503)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for start in on_startup:
            await start()
        try:
            yield
        finally:
            for stop in on_shutdown:
                await stop()

    routes: list[BaseRoute] = [
        *seed.routes(),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *extra_routes,
        Route("/{path:path}", no_content, methods=ANY_METHOD),
    ]
    return SeedFastPath(Starlette(routes=routes, lifespan=lifespan), seed.endpoints())
