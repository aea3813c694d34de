"""The seed protocol: the original vending machine's wire protocol, kept for its clients.

Every response is HTTP 200 with a JSON body, failures included; writes return a `req_id` at once
and their status is read later from `/req_status`. Sessions are named by `wsess_id`, taken from
the body or the cookie of that name.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.routing import Route

from vending.domain import commands as c
from vending.domain.users import Role
from vending.gateway.auth import Authenticator
from vending.gateway.body import BodyTooLarge, read_body
from vending.gateway.hub import RequestHub, Status
from vending.gateway.sessions import SessionManager
from vending.gateway.tokens import hash_token
from vending.store import repository
from vending.store.database import Database
from vending.store.sessions import SessionRecord

ALLOWED_KEYS = frozenset(
    {
        "wsess_id",
        "token",
        "uid",
        "username",
        "password",
        "amount",
        "product_uid",
        "product_name",
        "cost",
        "req_id",
    }
)
COOKIE = "wsess_id"
SESSION_WAIT_SECONDS = 1.0
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
"""The methods of RFC 9110 and PATCH; HEAD comes with GET. Starlette rejects any other method
with a plain-text 405."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode

NOT_YET = _encode({"error": "status unavailable"})
UNAUTHORIZED = _encode({"error": "UNAUTHORIZED"})


def reply(data: Any) -> Response:
    return Response(_encode(data), media_type="application/json")


def error(message: str) -> Response:
    return reply({"error": message})


def encoded_error(message: str) -> bytes:
    return _encode({"error": message})


def parse_number(value: object) -> object:
    """Return a JSON integer, or a string of 1 to 10 ASCII digits, as an int.

    Anything else comes back unchanged, for the worker to reject with the right code.
    """
    if type(value) is int:
        return value
    if isinstance(value, str) and 1 <= len(value) <= 10 and value.isascii() and value.isdigit():
        return int(value)
    return value


def format_status(status: Status) -> dict[str, Any]:
    """Return a status as the seed protocol writes it."""
    if not status.ok:
        out: dict[str, Any] = {"failed": status.code}
        if status.detail:
            out["detail"] = status.detail
        return out
    result = status.result or {}
    kind = status.kind
    if kind == "deposit":
        return {"success": f"deposit: +{result['coin']}"}
    if kind == "create_product":
        return {"success": result["uid"]}
    if kind == "update_product":
        return {"success": product_view(result)}
    if kind == "buy":
        return {
            "success": {
                "spent": result["spent"],
                "change": result["change"],
                "product_uid": result["product"]["id"],
                "amount": result["amount"],
            }
        }
    if kind == "reset":
        return {"success": {"change": result["change"]}}
    return {"success": "1"}


def product_view(product: dict[str, Any]) -> dict[str, Any]:
    return {
        "product_uid": product["uid"],
        "seller_uid": product["seller_uid"],
        "product_name": product["product_name"],
        "cost": product["cost"],
        "amount": product["amount"],
    }


class BadRequest(Exception):
    """The body is not acceptable; the message is the seed protocol's `error` value."""


@dataclass(slots=True)
class Call:
    body: dict[str, Any]
    wsess_id: str | None
    token: str | None


def parse_call(raw: bytes, cookie_header: str | None) -> Call:
    """Decode a seed-protocol body; the session id comes from the body, else the cookie.

    Raise BadRequest, whose message is the protocol's `error` value, for a body that is not a
    JSON object or that has a key the protocol does not allow.
    """
    if raw.strip():
        try:
            body = _decode(raw)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"invalid JSON: {exc}") from None
        except RecursionError:
            # msgspec decodes nested arrays and objects recursively, so a body nested deeper
            # than Python's recursion limit cannot be read.
            raise BadRequest("invalid JSON: nested too deeply") from None
    else:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    for key in body:
        if key not in ALLOWED_KEYS:
            raise BadRequest(f"data key '{key}' not allowed")
    wsess_id = body.get("wsess_id")
    if not isinstance(wsess_id, str) or not wsess_id:
        wsess_id = None
        if cookie_header:
            wsess_id = cookie_parser(cookie_header).get(COOKIE) or None
    token = body.get("token")
    return Call(body, wsess_id, token if isinstance(token, str) and token else None)


Endpoint = Callable[[Call], Awaitable[bytes]]
"""A seed-protocol route: takes the parsed call, returns the JSON body of its 200 response."""


class SeedProtocol:
    """Endpoints of the seed protocol."""

    def __init__(
        self,
        database: Database,
        hub: RequestHub,
        sessions: SessionManager,
        auth: Authenticator,
        session_ttl_seconds: int,
        status_poll_wait_seconds: float = 0.06,
    ) -> None:
        self._database = database
        self._hub = hub
        self._sessions = sessions
        self._auth = auth
        self._cookie_max_age = session_ttl_seconds
        self._status_poll_wait = status_poll_wait_seconds

    def endpoints(self) -> dict[str, Endpoint]:
        """Return the routes whose responses set no cookie, as functions of the parsed call."""
        return {
            "/deposit": self.deposit,
            "/sell": self.sell,
            "/buy": self.buy,
            "/reset": self.reset,
            "/req_status": self.req_status,
            "/profile": self.profile,
            "/products": self.products,
        }

    def routes(self) -> list[Route]:
        """Return every route of the protocol as Starlette routes."""
        routes = [Route("/user", self._user_route, methods=ANY_METHOD)]
        for path, endpoint in self.endpoints().items():
            routes.append(Route(path, self._route_of(endpoint), methods=ANY_METHOD))
        return routes

    def _route_of(self, endpoint: Endpoint) -> Any:
        async def run(request: Request) -> Response:
            try:
                call = await self._parse(request)
            except BadRequest as exc:
                return error(str(exc))
            return Response(await endpoint(call), media_type="application/json")

        return run

    async def _user_route(self, request: Request) -> Response:
        try:
            call = await self._parse(request)
        except BadRequest as exc:
            return error(str(exc))
        return await self.user(request, call)

    async def _parse(self, request: Request) -> Call:
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            raise BadRequest("body too large") from None
        return parse_call(raw, request.headers.get("cookie"))

    # ------------------------------------------------------------ /user

    async def user(self, request: Request, call: Call) -> Response:
        record = await self._sessions.get(call.wsess_id) if call.wsess_id else None
        if record is None:
            record = await self._sessions.create()
        action = call.body.get("token")
        username = call.body.get("username")
        password = call.body.get("password")
        client = request.client.host if request.client else ""

        if action in ("new_buyer", "new_seller"):
            role = Role.BUYER if action == "new_buyer" else Role.SELLER
            await self._auth.register(role, username, password, record.wsess_id)
            self._sessions.forget(record.wsess_id)
            response = reply({"wsess_id": record.wsess_id})
        elif action in ("buyer", "seller"):
            await self._auth.login(Role(action), username, password, client, record.wsess_id)
            self._sessions.forget(record.wsess_id)
            response = reply({"wsess_id": record.wsess_id})
        elif action == "get":
            response = await self._get_token(record)
        elif action == "del":
            await self._end_session_token(record)
            response = reply({"success": "1"})
        else:
            response = error("BAD_INPUT")
        response.set_cookie(
            COOKIE, record.wsess_id, max_age=self._cookie_max_age, path="/", samesite="lax"
        )
        return response

    async def _get_token(self, record: SessionRecord) -> Response:
        deadline = time.monotonic() + SESSION_WAIT_SECONDS
        if record.last_auth_req is not None:
            await self._wait_for_status(record.last_auth_req, deadline)
            # A session read that overlapped the status may have cached the session as it was
            # before. The status is committed now, so a fresh read returns its outcome.
            self._sessions.forget(record.wsess_id)
        current = await self._sessions.get(record.wsess_id) or record
        if current.failed_code is not None:
            code = current.failed_code
            await self._sessions.clear_failure(current)
            return reply({"failed": code})
        if current.token is None:
            current = await self._wait_for_token(current, deadline) or current
        if current.token is not None:
            return reply({"token": current.token})
        return error("TIMEOUT")

    async def _wait_for_status(self, req_id: str, deadline: float) -> None:
        while (remaining := deadline - time.monotonic()) > 0:
            if await self._hub.wait(req_id, remaining) is not None:
                return
            if not self._hub.is_pending(req_id):
                await asyncio.sleep(min(0.01, max(remaining, 0)))

    async def _wait_for_token(self, record: SessionRecord, deadline: float) -> SessionRecord | None:
        """Wait until `deadline` for the session to get a token (a sign-in in flight)."""
        while True:
            if record.last_auth_req is not None and self._hub.is_pending(record.last_auth_req):
                await self._wait_for_status(record.last_auth_req, deadline)
            else:
                await asyncio.sleep(max(0.0, min(0.05, deadline - time.monotonic())))
            self._sessions.forget(record.wsess_id)
            fresh = await self._sessions.get(record.wsess_id)
            if fresh is not None and fresh.token is not None:
                return fresh
            if time.monotonic() >= deadline:
                return fresh

    async def _end_session_token(self, record: SessionRecord) -> None:
        if record.token is None or record.uid is None:
            return
        token_hash = hash_token(record.token)
        req_id = await self._hub.submit(c.Logout(record.uid, token_hash), record.uid)
        await self._hub.wait(req_id, 5.0)
        self._sessions.forget(record.wsess_id)

    # ------------------------------------------------------------ queued requests

    async def _submit(self, call: Call, build: Any) -> bytes:
        if call.wsess_id is None or call.token is None:
            return UNAUTHORIZED
        record = await self._sessions.get(call.wsess_id, call.token)
        if record is not None and record.token == call.token and record.uid is not None:
            uid, token_hash = record.uid, hash_token(call.token)
        else:
            # Not the session's token: the worker stores `unauthorized` for this request.
            uid = record.uid if record is not None and record.uid else f"wsess:{call.wsess_id}"
            token_hash = ""
        req_id = await self._hub.submit(build(uid, token_hash), uid, call.wsess_id)
        return b'{"req_id":"%s"}' % req_id.encode()

    async def deposit(self, call: Call) -> bytes:
        amount = parse_number(call.body.get("amount"))
        return await self._submit(call, lambda uid, th: c.Deposit(uid, th, amount))

    async def sell(self, call: Call) -> bytes:
        body = call.body
        cost = parse_number(body["cost"]) if "cost" in body else None
        amount = parse_number(body["amount"]) if "amount" in body else None
        name = body.get("product_name")
        product_uid = body.get("product_uid")
        if product_uid is None:
            new_uid = str(uuid.uuid4())
            return await self._submit(
                call, lambda uid, th: c.CreateProduct(uid, th, new_uid, name, cost, amount)
            )
        return await self._submit(
            call,
            lambda uid, th: c.UpdateProduct(
                uid, th, str(product_uid), product_name=name, cost=cost, add_amount=amount
            ),
        )

    async def buy(self, call: Call) -> bytes:
        amount = parse_number(call.body.get("amount"))
        product_uid = call.body.get("product_uid")
        return await self._submit(call, lambda uid, th: c.Buy(uid, th, product_uid, amount))

    async def reset(self, call: Call) -> bytes:
        return await self._submit(call, lambda uid, th: c.Reset(uid, th))

    # ------------------------------------------------------------ reads

    async def _reader(self, call: Call) -> SessionRecord | bytes:
        """Return the caller's session, or the error response the protocol gives for reads."""
        record = await self._sessions.get(call.wsess_id, call.token) if call.wsess_id else None
        if record is not None and record.token is not None:
            if call.token != record.token or await self._auth.resolve(record.token) is None:
                return UNAUTHORIZED
            return record
        if call.token is not None and await self._has_ended(call.token):
            return UNAUTHORIZED
        if record is not None:
            deadline = time.monotonic() + SESSION_WAIT_SECONDS
            fresh = await self._wait_for_token(record, deadline)
            if fresh is not None and fresh.token is not None:
                if call.token != fresh.token:
                    return UNAUTHORIZED
                return fresh
        else:
            await asyncio.sleep(SESSION_WAIT_SECONDS)
        return encoded_error("TIMEOUT")

    async def _has_ended(self, token: str) -> bool:
        """Return True when `token` was issued and has since ended or expired.

        NOTE: the purge deletes ended tokens after the token lifetime. From then on such a
        token counts as unknown, and a read with it waits for the TIMEOUT response.
        """
        if await self._auth.resolve(token) is not None:
            return False
        token_hash = hash_token(token)
        return await self._database.read(lambda tx: repository.token_exists(tx, token_hash))

    async def req_status(self, call: Call) -> bytes:
        """Return the status of one of the session's requests.

        A request of this account that is still queued gets up to `status_poll_wait_seconds` to
        finish before the answer is "status unavailable": a poll sent right after the submit
        then returns the status instead of a miss, and clients poll less. The wait holds no
        lock and no database connection.
        """
        req_id = call.body.get("req_id")
        record = await self._reader(call)
        if isinstance(record, bytes):
            return record
        if not isinstance(req_id, str):
            return NOT_YET
        status = self._hub.cached(req_id)
        if status is None and self._hub.is_pending(req_id):
            if self._status_poll_wait and self._hub.pending_owner(req_id) == record.uid:
                status = await self._hub.wait(req_id, self._status_poll_wait)
        elif status is None:
            status = await self._hub.lookup(req_id)
        if status is None or status.wsess_id != record.wsess_id:
            return NOT_YET
        return _encode(format_status(status))

    async def profile(self, call: Call) -> bytes:
        record = await self._reader(call)
        if isinstance(record, bytes):
            return record
        uid = record.uid or ""
        user = await self._database.read(lambda tx: repository.get_user(tx, uid))
        if user is None:
            return UNAUTHORIZED
        return _encode(
            {
                "uid": user.uid,
                "username": user.username,
                "role": user.role.value,
                "deposit": user.deposit,
            }
        )

    async def products(self, call: Call) -> bytes:
        if call.token is not None:
            record = await self._reader(call)
            if isinstance(record, bytes):
                return record
        seller = call.body.get("uid")
        if seller is not None and not isinstance(seller, str):
            return encoded_error("uid must be a string")
        rows = await self._database.read(lambda tx: repository.list_products(tx, seller))
        return _encode(
            [
                {
                    "product_uid": p.uid,
                    "seller_uid": p.seller_uid,
                    "product_name": p.product_name,
                    "cost": p.cost,
                    "amount": p.amount,
                }
                for _, p in rows
            ]
        )
