"""A raw ASGI path for the busiest seed-protocol routes, in front of the Starlette app.

Deposits, buys and status polls make up nearly all of the seed protocol's traffic. Routing them
through Starlette's middleware, router and Request/Response objects costs more CPU than the
work they do, so this layer serves them straight from the ASGI scope. Its responses are the
same bytes and headers that the Starlette routes of `SeedProtocol` send. Every other request,
including the same paths with a method the protocol does not serve, goes to the wrapped app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vending.gateway.body import MAX_BODY_BYTES
from vending.gateway.seed import ANY_METHOD, BadRequest, Endpoint, encoded_error, parse_call

log = logging.getLogger(__name__)

RestEndpoint = Callable[[Request], Awaitable[Response]]
_METHODS = frozenset(ANY_METHOD)
_JSON = b"application/json"
_TOO_LARGE = encoded_error("body too large")


class RestFastPath:
    """ASGI middleware that hands `/api/v1` calls on paths without parameters (deposit, buy,
    ...) straight to their endpoint, past Starlette's middleware stack and router.

    The endpoints catch their own errors and build complete responses, so the responses are the
    ones the routes give. Use it only without CORS: its responses would lack those headers.
    """

    def __init__(self, app: ASGIApp, endpoints: dict[str, RestEndpoint]) -> None:
        self._app = app
        self._endpoints = {path: e for path, e in endpoints.items() if "{" not in path}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self._endpoints.get(scope["path"])
            if endpoint is not None:
                response = await endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


class _Disconnected(Exception):
    """The client went away before its whole body arrived."""


class SeedFastPath:
    """ASGI middleware that serves `endpoints` itself and passes the rest to `app`."""

    def __init__(self, app: ASGIApp, endpoints: dict[str, Endpoint]) -> None:
        self._app = app
        self._endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _METHODS:
            endpoint = self._endpoints.get(scope["path"])
            if endpoint is not None:
                await self._serve(endpoint, scope, receive, send)
                return
        await self._app(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        cookie: str | None = None
        declared_length = -1
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                declared_length = int(value)
            elif name == b"cookie" and cookie is None:
                cookie = value.decode("latin-1")

        try:
            raw = await _read_body(receive, declared_length)
        except _Disconnected:
            return
        if raw is None:
            await _respond(send, _TOO_LARGE)
            return

        try:
            body = await endpoint(parse_call(raw, cookie))
        except BadRequest as exc:
            body = encoded_error(str(exc))
        except Exception:
            log.exception("seed route %s failed", scope["path"])
            await _internal_error(send)
            return
        await _respond(send, body)


async def _read_body(receive: Receive, declared_length: int) -> bytes | None:
    """Return the request body, or None as soon as it is over MAX_BODY_BYTES."""
    if declared_length > MAX_BODY_BYTES:
        return None
    message = await receive()
    body = _body_of(message)
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        chunk = _body_of(message)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _body_of(message: Message) -> bytes:
    if message["type"] == "http.disconnect":
        raise _Disconnected
    body: bytes = message.get("body", b"")
    return body


async def _respond(send: Send, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", _JSON)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _internal_error(send: Send) -> None:
    body = b"Internal Server Error"
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
