"""The endpoints of `/api/v1`. Every change goes through `RequestHub` to the workers.

Faults are reported in the seed protocol's order: the token (401), the role (403), the body
(400, 413, 422), then whatever the worker finds (404 product, 403 owner, 409 stock or deposit).
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from vending.domain import commands as c
from vending.domain.errors import Code, DomainError
from vending.domain.users import Role
from vending.gateway.auth import Authenticator
from vending.gateway.hub import RequestHub
from vending.gateway.rest import problems, render
from vending.gateway.rest import schemas as s
from vending.gateway.rest.auth import Caller, authenticate, require_role
from vending.gateway.rest.bodies import body_decoders
from vending.gateway.rest.calls import CallRunner, json_response, read_json
from vending.queues import fifo
from vending.store import repository
from vending.store.database import Database

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200
LOGIN_RETRY_AFTER_SECONDS = 60
SIGN_IN_RETRY_AFTER_SECONDS = 1
LOGIN_FAILURE_CODES = frozenset({Code.INVALID_ROLE_USERNAME, Code.INVALID_PASSWORD, Code.BAD_INPUT})


class RestApi:
    """The endpoints of `/api/v1`, one method each."""

    def __init__(
        self,
        database: Database,
        hub: RequestHub,
        auth: Authenticator,
        wait_seconds: float,
        idempotency_ttl_seconds: int,
    ) -> None:
        self._database = database
        self._hub = hub
        self._auth = auth
        self._wait_seconds = wait_seconds
        self._calls = CallRunner(database, hub, wait_seconds, idempotency_ttl_seconds * 1000)
        bodies = body_decoders(auth.password_min_length)
        self._user_create = bodies[s.UserCreate]
        self._login = bodies[s.LoginRequest]
        self._password_change = bodies[s.PasswordChange]
        self._product_create = bodies[s.ProductCreate]
        self._product_replace = bodies[s.ProductReplace]
        self._product_patch = bodies[s.ProductPatch]
        self._deposit = bodies[s.DepositRequest]
        self._buy = bodies[s.BuyRequest]

    # ------------------------------------------------------------ users

    async def create_user(self, request: Request) -> Response:
        body, _ = await read_json(request, self._user_create)
        sign_in = await self._auth.register(
            Role(body.role), body.username, body.password, sign_in=False
        )
        status = await self._wait_for_sign_in(sign_in.req_id)
        if not status.ok:
            raise problems.from_code(status.code or "", status.detail, status.req_id)
        return json_response(render.user(status.result or {}), 201)

    async def me(self, request: Request) -> Response:
        caller = await authenticate(request, self._auth)
        user = await self._database.read(lambda tx: repository.get_user(tx, caller.uid))
        if user is None:
            raise problems.unauthorized("the account of this token was deleted")
        return json_response(
            s.UserPublic(
                id=user.uid, username=user.username, role=user.role.value, deposit=user.deposit
            )
        )

    async def change_password(self, request: Request) -> Response:
        # NOTE: wrong current passwords are not counted as failed logins, so a stolen token
        # can guess the password here without the login limit.
        caller = await authenticate(request, self._auth)
        body, raw = await read_json(request, self._password_change)
        try:
            command = await self._auth.password_change(
                caller.uid, caller.token_hash, body.current_password, body.password
            )
        except DomainError as error:
            raise problems.ProblemError(
                422, error.code.value, error.detail or "", "password"
            ) from None
        return await self._calls.run(request, caller, command, raw)

    async def delete_me(self, request: Request) -> Response:
        caller = await authenticate(request, self._auth)
        return await self._calls.run(request, caller, c.DeleteUser(caller.uid, caller.token_hash))

    # ------------------------------------------------------------ sessions

    async def login(self, request: Request) -> Response:
        body, _ = await read_json(request, self._login)
        client = request.client.host if request.client else ""
        sign_in = await self._auth.login(Role(body.role), body.username, body.password, client)
        status = await self._wait_for_sign_in(sign_in.req_id)
        if not status.ok:
            raise _login_problem(status.code or "", status.detail, status.req_id)
        result = status.result or {}
        active = int(result["active_sessions"])
        return json_response(
            s.TokenPublic(
                access_token=sign_in.token,
                token_type="bearer",
                expires_at=render.expires_at(result["expires_at"]),
                active_sessions=active,
                message="There is already an active session using your account"
                if active > 1
                else None,
            )
        )

    async def logout(self, request: Request) -> Response:
        caller = await authenticate(request, self._auth)
        return await self._calls.run(request, caller, c.Logout(caller.uid, caller.token_hash))

    async def logout_all(self, request: Request) -> Response:
        caller = await authenticate(request, self._auth)
        return await self._calls.run(request, caller, c.LogoutAll(caller.uid, caller.token_hash))

    async def _wait_for_sign_in(self, req_id: str) -> Any:
        """Wait for a sign-up or login status; past the wait, raise 503 (never 202)."""
        status = await self._hub.wait(req_id, self._wait_seconds)
        if status is None:
            # NOTE: the request stays queued and may still succeed: a retried sign-up then
            # gets 409, and a login leaves an active session whose token no client received.
            log.warning(
                "sign-up or login %s still queued after %.1f s; is a gatekeeper worker running?",
                req_id,
                self._wait_seconds,
            )
            raise problems.ProblemError(
                503,
                "TIMEOUT",
                "the request was queued but not applied in time, and it may still be applied: "
                "after a sign-up, try to log in before signing up again",
                headers={"Retry-After": str(SIGN_IN_RETRY_AFTER_SECONDS)},
                req_id=req_id,
            )
        return status

    # ------------------------------------------------------------ products

    async def list_products(self, request: Request) -> Response:
        query = request.query_params
        limit = _query_int(query.get("limit"), "limit", PAGE_LIMIT_DEFAULT, 1, PAGE_LIMIT_MAX)
        after = _decode_cursor(query.get("cursor"))
        seller = query.get("seller_id")
        rows = await self._database.read(
            lambda tx: repository.list_products(tx, seller, after, limit + 1)
        )
        page = rows[:limit]
        next_cursor = _encode_cursor(page[-1][0]) if len(rows) > limit else None
        items = [render.stored_product(product) for _, product in page]
        return json_response(s.ProductPage(items=items, next_cursor=next_cursor))

    async def get_product(self, request: Request) -> Response:
        product_id = request.path_params["id"]
        product = await self._database.read(lambda tx: repository.get_product(tx, product_id))
        if product is None:
            raise _product_not_found(product_id)
        return json_response(render.stored_product(product))

    async def create_product(self, request: Request) -> Response:
        caller = await self._seller(request)
        body, raw = await read_json(request, self._product_create)
        command = c.CreateProduct(
            caller.uid,
            caller.token_hash,
            str(uuid.uuid4()),
            body.product_name,
            body.cost,
            body.amount_available,
            min_amount=0,
        )
        return await self._calls.run(
            request, caller, command, raw, created_location=lambda p: f"{PREFIX}/products/{p.id}"
        )

    async def replace_product(self, request: Request) -> Response:
        caller = await self._seller(request)
        body, raw = await read_json(request, self._product_replace)
        command = c.UpdateProduct(
            caller.uid,
            caller.token_hash,
            request.path_params["id"],
            product_name=body.product_name,
            cost=body.cost,
            set_amount=body.amount_available,
        )
        return await self._calls.run(request, caller, command, raw)

    async def patch_product(self, request: Request) -> Response:
        caller = await self._seller(request)
        body, raw = await read_json(request, self._product_patch)
        command = c.UpdateProduct(
            caller.uid,
            caller.token_hash,
            request.path_params["id"],
            product_name=_given(body.product_name),
            cost=_given(body.cost),
            set_amount=_given(body.amount_available),
        )
        return await self._calls.run(request, caller, command, raw)

    async def delete_product(self, request: Request) -> Response:
        caller = await self._seller(request)
        command = c.DeleteProduct(caller.uid, caller.token_hash, request.path_params["id"])
        return await self._calls.run(request, caller, command)

    async def _seller(self, request: Request) -> Caller:
        caller = await authenticate(request, self._auth)
        require_role(caller, Role.SELLER, Code.SELL_SELLERS_ONLY)
        return caller

    # ------------------------------------------------------------ money

    async def deposit(self, request: Request) -> Response:
        caller = await authenticate(request, self._auth)
        require_role(caller, Role.BUYER, Code.DEPOSIT_BUYERS_ONLY)
        body, raw = await read_json(request, self._deposit)
        command = c.Deposit(caller.uid, caller.token_hash, body.coin)
        return await self._calls.run(request, caller, command, raw)

    async def buy(self, request: Request) -> Response:
        caller = await authenticate(request, self._auth)
        require_role(caller, Role.BUYER, Code.BUY_BUYERS_ONLY)
        body, raw = await read_json(request, self._buy)
        command = c.Buy(caller.uid, caller.token_hash, body.product_id, body.amount)
        return await self._calls.run(request, caller, command, raw)

    async def reset(self, request: Request) -> Response:
        caller = await authenticate(request, self._auth)
        require_role(caller, Role.BUYER, Code.RESET_BUYERS_ONLY)
        return await self._calls.run(request, caller, c.Reset(caller.uid, caller.token_hash))

    # ------------------------------------------------------------ requests

    async def request_status(self, request: Request) -> Response:
        caller = await authenticate(request, self._auth)
        req_id = request.path_params["req_id"]
        status = self._hub.cached(req_id)
        if status is None:
            owner = self._hub.pending_owner(req_id)
            if owner is None:
                status = await self._hub.lookup(req_id)
            if status is None and owner is None:
                owner = await self._database.read(lambda tx: fifo.queued_owner(tx, req_id))
            if status is None:
                if owner != caller.uid:
                    raise _request_not_found(req_id)
                return json_response(s.RequestStatus(req_id=req_id, state="queued"))
        if status.okey != caller.uid:
            raise _request_not_found(req_id)
        if status.ok:
            result = render.as_builtins(status.kind, status.result or {})
            return json_response(s.RequestStatus(req_id=req_id, state="done", result=result))
        if status.kind == "login":
            error = _login_problem(status.code or "", status.detail, req_id)
        else:
            error = problems.from_code(status.code or "", status.detail, req_id)
        return json_response(
            s.RequestStatus(req_id=req_id, state="failed", error=error.to_problem())
        )


def _login_problem(code: str, detail: str | None, req_id: str) -> problems.ProblemError:
    """Return the problem of a failed login: every credential fault gets the same 401."""
    if code in LOGIN_FAILURE_CODES:
        return problems.ProblemError(
            401,
            "INVALID_CREDENTIALS",
            "the username, role or password is wrong",
            req_id=req_id,
        )
    if code == Code.TOO_MANY_ATTEMPTS:
        return problems.ProblemError(
            429,
            code,
            "too many failed logins for this account or address; retry later",
            headers={"Retry-After": str(LOGIN_RETRY_AFTER_SECONDS)},
            req_id=req_id,
        )
    return problems.from_code(code, detail, req_id)


def _product_not_found(product_id: str) -> problems.ProblemError:
    return problems.not_found(f"no product with id {product_id!r}", Code.PRODUCT_NOT_FOUND.value)


def _request_not_found(req_id: str) -> problems.ProblemError:
    return problems.not_found(f"no request {req_id!r} of this account")


def _given(value: Any) -> Any:
    """Return a PATCH field's value, or None when the body left it out."""
    return None if value is msgspec.UNSET else value


def _query_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not low <= int(raw) <= high:
        raise problems.ProblemError(
            422, "BAD_INPUT", f"{name} must be an integer from {low} to {high}", name
        )
    return int(raw)


def _encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    """Return the position a cursor stands for; raise 422 for a cursor this API never made."""
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not (text.isdigit() and len(text) <= 18):
        raise problems.ProblemError(
            422, "BAD_INPUT", "cursor must be a next_cursor value from a previous page", "cursor"
        )
    return int(text)
