"""The gateway's ASGI application."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp

from vending.gateway import page
from vending.gateway.auth import Authenticator
from vending.gateway.fastpath import RestFastPath, SeedFastPath
from vending.gateway.hub import RequestHub
from vending.gateway.passwords import PasswordHasher
from vending.gateway.rest.endpoints import RestApi
from vending.gateway.rest.openapi import docs_routes
from vending.gateway.rest.routes import dispatchers as rest_dispatchers
from vending.gateway.rest.routes import operations
from vending.gateway.rest.routes import routes as rest_routes
from vending.gateway.seed import ANY_METHOD, SeedProtocol
from vending.gateway.sessions import SessionManager
from vending.gateway.ws import LiveSessions
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
    request_wait_seconds: float = 5.0
    status_poll_wait_seconds: float = 0.06
    idempotency_ttl_seconds: int = 24 * 3600
    cors_origins: list[str] = field(default_factory=list)
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
    """Build the ASGI app. `on_startup` and `on_shutdown` run in the app's lifespan, so the
    code that assembles the process (one process or many) decides what runs beside the gateway.

    The busiest seed routes, and the REST paths without parameters, are answered by
    `SeedFastPath` and `RestFastPath` before Starlette's middleware and router see them."""
    seed = SeedProtocol(
        gateway.database,
        gateway.hub,
        gateway.sessions,
        gateway.auth,
        gateway.session_ttl_seconds,
        gateway.status_poll_wait_seconds,
    )
    rest = RestApi(
        gateway.database,
        gateway.hub,
        gateway.auth,
        gateway.request_wait_seconds,
        gateway.idempotency_ttl_seconds,
    )
    live = LiveSessions(gateway.database, gateway.hub, gateway.auth)

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
        *rest_routes(rest),
        *docs_routes(operations(), gateway.auth.password_min_length),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        WebSocketRoute("/ws", live.endpoint),
        *page.routes(),
        *extra_routes,
        Route("/{path:path}", no_content, methods=ANY_METHOD),
    ]
    middleware = []
    if gateway.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=gateway.cors_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Prefer"],
                expose_headers=["Location", "Retry-After", "Preference-Applied"],
            )
        )
    app: ASGIApp = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    if not gateway.cors_origins:
        app = RestFastPath(app, rest_dispatchers(rest))
    return SeedFastPath(app, seed.endpoints())
