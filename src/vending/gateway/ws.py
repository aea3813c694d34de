"""The WebSocket session at `/ws`: requests in, acceptances and statuses out, live updates pushed.

A client first sends `{"op": "auth", "token": ...}`. Each later request message is committed to
its queue like a REST call. The client gets `accepted` with the request id once the request is
durable, then its `status` as soon as the worker stores it. Every signed-in connection also gets
product changes. The connections of one account get its balance changes and, for a seller, the
sales of its products. docs/websocket.md describes every message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from vending.domain import commands as c
from vending.gateway import ws_messages as m
from vending.gateway.auth import Authenticator
from vending.gateway.hub import RequestHub, Status, new_req_id
from vending.gateway.tokens import hash_token, now_ms
from vending.gateway.views import problem_view, product_view, status_view
from vending.queues import fifo
from vending.queues.bus import StatusEvent
from vending.store import repository
from vending.store.database import Database

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode

AUTH_TIMEOUT_SECONDS = 10.0
OUTBOX_CAPACITY = 1000
CLOSE_SIGNED_OUT = 4001
CLOSE_TOO_SLOW = 4008

BAD_MESSAGE = (400, "BAD_MESSAGE")
UNAUTHORIZED = (401, "UNAUTHORIZED")
NOT_FOUND = (404, "NOT_FOUND")
UNAVAILABLE = (503, "UNAVAILABLE")
"""Faults the session finds itself, as (HTTP status the REST API would use, code)."""


class Connection:
    """One open WebSocket. Messages to send wait in `outbox`, written by a single sender task."""

    def __init__(self, websocket: WebSocket) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.websocket = websocket
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.uid: str | None = None
        self.token_hash = ""
        self.close_code: int | None = None
        self.expiry: asyncio.TimerHandle | None = None

    def push(self, message: dict[str, Any]) -> None:
        """Queue `message` for sending. A client that leaves too many messages unread is closed."""
        if self.close_code is not None:
            return
        if self.outbox.qsize() >= OUTBOX_CAPACITY:
            log.warning("ws %s: %d messages unread, closing", self.id, OUTBOX_CAPACITY)
            self.close(CLOSE_TOO_SLOW)
            return
        self.outbox.put_nowait(_encode(message))

    def close(self, code: int) -> None:
        """Close the WebSocket with `code` once the messages queued before are sent."""
        if self.close_code is None:
            self.close_code = code
            self.outbox.put_nowait(None)

    async def send_all(self) -> None:
        """Send queued messages until `close` is called, then close the WebSocket."""
        while (data := await self.outbox.get()) is not None:
            await self.websocket.send_text(data.decode())
        await self.websocket.close(self.close_code or 1000)


@dataclass(slots=True)
class Watch:
    """A request whose status goes to `connection`, after its acceptance has been sent."""

    connection: Connection
    ref: str | int | None
    accepted: bool = False
    early_status: Status | None = None


@dataclass
class LiveSessions:
    """The `/ws` endpoint and the fan-out of statuses and effects from the hub to connections."""

    database: Database
    hub: RequestHub
    auth: Authenticator
    connections: set[Connection] = field(default_factory=set)
    by_account: dict[str, set[Connection]] = field(default_factory=dict)
    watches: dict[str, Watch] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hub.add_listener(self.on_status)

    # ------------------------------------------------------------ connection

    async def endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        connection = Connection(websocket)
        self.connections.add(connection)
        sender = asyncio.create_task(connection.send_all())
        log.info("ws %s opened", connection.id)
        try:
            await self._receive(connection)
        except WebSocketDisconnect:
            pass
        finally:
            self._forget(connection)
            if not sender.done():
                connection.close(1000)
                await asyncio.gather(sender, return_exceptions=True)
            log.info("ws %s closed (%s)", connection.id, connection.uid or "not signed in")

    async def _receive(self, connection: Connection) -> None:
        deadline = asyncio.get_running_loop().time() + AUTH_TIMEOUT_SECONDS
        while connection.close_code is None:
            if connection.uid is None:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    message = await asyncio.wait_for(connection.websocket.receive(), remaining)
                except TimeoutError:
                    self._error(
                        connection,
                        None,
                        UNAUTHORIZED,
                        f"no auth message within {AUTH_TIMEOUT_SECONDS:g} s",
                    )
                    connection.close(CLOSE_SIGNED_OUT)
                    return
            else:
                message = await connection.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self._error(connection, None, BAD_MESSAGE, "send JSON messages as text frames")
                continue
            # NOTE: a connection's requests are committed one after another, which keeps their
            # acceptance order but gives them no share of the producer's group commit.
            await self._handle_text(connection, text)

    async def _handle_text(self, connection: Connection, text: str) -> None:
        try:
            message = m.decode(text)
        except m.BadMessage as exc:
            self._error(connection, exc.ref, BAD_MESSAGE, exc.detail)
            return
        if isinstance(message, m.Auth):
            await self._authenticate(connection, message)
        elif connection.uid is None:
            self._error(connection, message.ref, UNAUTHORIZED, "send an auth message first")
        elif isinstance(message, m.StatusQuery):
            await self._status(connection, message)
        else:
            await self._submit(connection, message)

    def _expire(self, connection: Connection) -> None:
        """Sign out a connection whose token has just expired."""
        log.info("ws %s: token of %s expired, closing", connection.id, connection.uid)
        connection.push({"type": "signed_out", "detail": "the token has expired; sign in again"})
        connection.close(CLOSE_SIGNED_OUT)

    def _forget(self, connection: Connection) -> None:
        if connection.expiry is not None:
            connection.expiry.cancel()
        self.connections.discard(connection)
        if connection.uid is not None:
            peers = self.by_account.get(connection.uid)
            if peers is not None:
                peers.discard(connection)
                if not peers:
                    del self.by_account[connection.uid]
        for req_id in [r for r, w in self.watches.items() if w.connection is connection]:
            del self.watches[req_id]

    # ------------------------------------------------------------ requests

    async def _authenticate(self, connection: Connection, message: m.Auth) -> None:
        if connection.uid is not None:
            self._error(
                connection, message.ref, BAD_MESSAGE, "this connection is already signed in"
            )
            return
        info = await self.auth.resolve(message.token)
        user = None
        if info is not None:
            uid = info.uid
            user = await self.database.read(lambda tx: repository.get_user(tx, uid))
        if info is None or user is None:
            self._error(
                connection, message.ref, UNAUTHORIZED, "the token is invalid, ended or expired"
            )
            return
        connection.uid = user.uid
        connection.token_hash = hash_token(message.token)
        self.by_account.setdefault(user.uid, set()).add(connection)
        delay = max(0.0, (info.expires_at - now_ms()) / 1000)
        connection.expiry = asyncio.get_running_loop().call_later(delay, self._expire, connection)
        log.info("ws %s signed in as %s", connection.id, user.uid)
        connection.push(
            {
                "type": "welcome",
                "ref": message.ref,
                "user": {
                    "id": user.uid,
                    "username": user.username,
                    "role": user.role.value,
                    "deposit": user.deposit,
                },
            }
        )

    async def _submit(self, connection: Connection, message: m.ClientMessage) -> None:
        assert connection.uid is not None
        try:
            command = build_command(message, connection.uid, connection.token_hash)
        except m.BadMessage as exc:
            self._error(connection, message.ref, BAD_MESSAGE, exc.detail)
            return

        req_id = new_req_id()
        watch = Watch(connection, message.ref)
        self.watches[req_id] = watch
        try:
            await self.hub.submit(command, connection.uid, req_id=req_id)
        except Exception:
            del self.watches[req_id]
            log.exception("ws %s: request %s could not be queued", connection.id, req_id)
            self._error(
                connection,
                message.ref,
                UNAVAILABLE,
                "the request could not be queued, send it again",
            )
            return

        connection.push({"type": "accepted", "req_id": req_id, "ref": message.ref})
        watch.accepted = True
        if watch.early_status is not None:
            self._deliver(req_id, watch.early_status)

    async def _status(self, connection: Connection, message: m.StatusQuery) -> None:
        req_id = message.req_id
        status = await self.hub.lookup(req_id)
        if status is None:
            owner = await self.database.read(lambda tx: fifo.queued_owner(tx, req_id))
            if owner == connection.uid:
                # Push the status when it arrives, as for a request sent on this connection.
                # NOTE: a request already watched by another open connection stays with it.
                self.watches.setdefault(req_id, Watch(connection, message.ref, accepted=True))
            # The status may have been stored between the two reads.
            status = await self.hub.lookup(req_id)
            if owner == connection.uid:
                if req_id not in self.watches:
                    return  # on_status delivered it while this method waited
                if status is None:
                    queued = {"type": "status", "ref": message.ref, "req_id": req_id}
                    connection.push({**queued, "state": "queued"})
                    return
                del self.watches[req_id]

        if status is None or status.okey != connection.uid:
            detail = f"no request {req_id!r} of this account"
            self._error(connection, message.ref, NOT_FOUND, detail)
            return
        view = status_view(status)
        connection.push({"type": "status", "ref": message.ref, "op": status.kind, **view})

    def _error(
        self, connection: Connection, ref: object, fault: tuple[int, str], detail: str
    ) -> None:
        log.info("ws %s: rejected message: %s", connection.id, detail)
        connection.push({"type": "error", "ref": ref, "error": problem_view(*fault, detail)})

    # ------------------------------------------------------------ statuses and effects

    def on_status(self, event: StatusEvent, status: Status) -> None:
        """Deliver a status to the connection that sent the request, and push its effects."""
        watch = self.watches.get(event.req_id)
        if watch is not None:
            if watch.accepted:
                self._deliver(event.req_id, status)
            else:
                watch.early_status = status
        if not self.connections:
            return
        for effect in event.effects:
            self._push_effect(effect)
        if event.kind == "buy" and status.ok and status.result is not None:
            self._push_sale(event, status.result)

    def _deliver(self, req_id: str, status: Status) -> None:
        watch = self.watches.pop(req_id)
        message = {"type": "status", "ref": watch.ref, "op": status.kind, **status_view(status)}
        watch.connection.push(message)

    def _push_effect(self, effect: dict[str, Any]) -> None:
        kind = effect["type"]
        if kind == "product":
            self._broadcast({"type": "product", "product": product_view(effect["product"])})
        elif kind == "product_deleted":
            self._broadcast({"type": "product_deleted", "id": effect["product_uid"]})
        elif kind == "balance":
            for connection in self.by_account.get(effect["uid"], ()):
                connection.push({"type": "balance", "deposit": effect["deposit"]})
        elif kind == "tokens_ended":
            ended = set(effect["hashes"])
            for connection in [
                connection for connection in self.connections if connection.token_hash in ended
            ]:
                connection.push(
                    {"type": "signed_out", "detail": "the session has ended; sign in again"}
                )
                connection.close(CLOSE_SIGNED_OUT)

    def _push_sale(self, event: StatusEvent, result: dict[str, Any]) -> None:
        """Tell the seller of the product bought that it sold, and how much stock is left."""
        for effect in event.effects:
            if effect["type"] == "product":
                product = effect["product"]
                sale = {
                    "type": "sale",
                    "product": result["product"],
                    "amount": result["amount"],
                    "spent": result["spent"],
                    "amount_available": product["amount"],
                }
                for connection in self.by_account.get(product["seller_uid"], ()):
                    connection.push(sale)

    def _broadcast(self, message: dict[str, Any]) -> None:
        for connection in self.connections:
            if connection.uid is not None:
                connection.push(message)


def build_command(message: m.ClientMessage, uid: str, token_hash: str) -> c.Command:
    """Return the domain command for a request message, or raise BadMessage for another op."""
    builder = _BUILDERS.get(type(message))
    if builder is None:
        raise m.BadMessage(f"op {message.__struct_config__.tag!r} is not a request")
    return builder(message, uid, token_hash)


def _update(message: Any, uid: str, token_hash: str) -> c.Command:
    fields = {
        name: getattr(message, name)
        for name in ("product_name", "cost", "amount_available")
        if getattr(message, name) is not msgspec.UNSET
    }
    if not fields:
        raise m.BadMessage("update_product needs product_name, cost or amount_available")
    for name, value in fields.items():
        if value is None:
            raise m.BadMessage(f"{name} must not be null, leave it out to keep its value")
    return c.UpdateProduct(
        uid,
        token_hash,
        message.id,
        product_name=fields.get("product_name"),
        cost=fields.get("cost"),
        set_amount=fields.get("amount_available"),
    )


_BUILDERS: dict[type[m.Message], Callable[[Any, str, str], c.Command]] = {
    m.Deposit: lambda message, uid, token_hash: c.Deposit(uid, token_hash, message.coin),
    m.Buy: lambda message, uid, token_hash: c.Buy(
        uid, token_hash, message.product_id, message.amount
    ),
    m.Reset: lambda message, uid, token_hash: c.Reset(uid, token_hash),
    m.CreateProduct: lambda message, uid, token_hash: c.CreateProduct(
        uid,
        token_hash,
        str(uuid.uuid4()),
        message.product_name,
        message.cost,
        message.amount_available,
        0,
    ),
    m.UpdateProduct: _update,
    m.DeleteProduct: lambda message, uid, token_hash: c.DeleteProduct(uid, token_hash, message.id),
    m.Logout: lambda message, uid, token_hash: c.Logout(uid, token_hash),
    m.LogoutAll: lambda message, uid, token_hash: c.LogoutAll(uid, token_hash),
    m.DeleteUser: lambda message, uid, token_hash: c.DeleteUser(uid, token_hash),
}
