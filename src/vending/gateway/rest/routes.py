"""The endpoints of `/api/v1` and the table of operations that also feeds the OpenAPI document.

Faults are reported in the seed protocol's order: the token (401), the role (403), the body
(400, 413, 422), then whatever the worker finds (404 product, 403 owner, 409 stock or deposit).
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vending.domain import commands as c
from vending.domain.errors import Code, DomainError
from vending.domain.users import Role
from vending.gateway.auth import Authenticator
from vending.gateway.hub import RequestHub
from vending.gateway.rest import problems, render
from vending.gateway.rest import schemas as s
from vending.gateway.rest.auth import Caller, authenticate, require_role
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

Endpoint = Callable[[Request], Awaitable[Response]]
UnboundEndpoint = Callable[["RestApi", Request], Awaitable[Response]]


def _decoder(struct: type[Any]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(struct)


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path: its endpoint and what the OpenAPI document says of it.

    `responses` maps a status to its body type (None: no body) and description; every
    operation may also answer with the problems that `errors` lists.
    """

    method: str
    path: str
    endpoint: UnboundEndpoint
    summary: str
    tag: str
    responses: dict[int, tuple[type[Any] | None, str]]
    errors: tuple[int, ...]
    body: type[Any] | None = None
    auth: bool = True
    queued: bool = False
    parameters: list[dict[str, Any]] = field(default_factory=list)


class RestApi:
    """The endpoints of `/api/v1`. Every change goes through `RequestHub` to the workers."""

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
        self._user_create = _decoder(s.UserCreate)
        self._login = _decoder(s.LoginRequest)
        self._password_change = _decoder(s.PasswordChange)
        self._product_create = _decoder(s.ProductCreate)
        self._product_replace = _decoder(s.ProductReplace)
        self._product_patch = _decoder(s.ProductPatch)
        self._deposit = _decoder(s.DepositRequest)
        self._buy = _decoder(s.BuyRequest)

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
            # gets 409, and a login leaves an active session whose token nobody received.
            log.warning("sign-in request %s still queued after %.1f s", req_id, self._wait_seconds)
            raise problems.ProblemError(
                503,
                "TIMEOUT",
                "the request was queued but not applied in time; retry later",
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
        items = [render.product(_product_view(product)) for _, product in page]
        return json_response(s.ProductPage(items=items, next_cursor=next_cursor))

    async def get_product(self, request: Request) -> Response:
        product_id = request.path_params["id"]
        product = await self._database.read(lambda tx: repository.get_product(tx, product_id))
        if product is None:
            raise _product_not_found(product_id)
        return json_response(render.product(_product_view(product)))

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

    def routes(self) -> list[Route]:
        """Return one route per path, with a 405 problem for a method the path lacks."""
        by_path: dict[str, dict[str, Endpoint]] = {}
        for operation in operations():
            methods = by_path.setdefault(PREFIX + operation.path, {})
            endpoint = functools.partial(operation.endpoint, self)
            methods[operation.method] = endpoint
            if operation.method == "GET":
                methods["HEAD"] = endpoint
        routes = [
            Route(path, _dispatch(methods), methods=ANY_METHOD, name=None)
            for path, methods in by_path.items()
        ]
        routes.append(Route(PREFIX, _not_found, methods=ANY_METHOD))
        routes.append(Route(PREFIX + "/{rest:path}", _not_found, methods=ANY_METHOD))
        return routes


ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

_PAGE_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"items per page, at most {PAGE_LIMIT_MAX}",
        "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_LIMIT_MAX,
                   "default": PAGE_LIMIT_DEFAULT},
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "`next_cursor` of the previous page",
        "schema": {"type": "string"},
    },
    {
        "name": "seller_id",
        "in": "query",
        "required": False,
        "description": "only the products of this seller (a uid such as `seller_sally`)",
        "schema": {"type": "string"},
    },
]  # fmt: skip


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _dispatch(methods: dict[str, Endpoint]) -> Endpoint:
    allowed = ", ".join(sorted(methods))

    async def dispatch(request: Request) -> Response:
        endpoint = methods.get(request.method)
        try:
            if endpoint is None:
                raise problems.ProblemError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    f"{request.method} is not allowed on {request.url.path}; use {allowed}",
                    headers={"Allow": allowed},
                )
            return await endpoint(request)
        except problems.ProblemError as error:
            return error.response()
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return problems.ProblemError(
                500, Code.INTERNAL_ERROR.value, "the server failed to handle the request"
            ).response()

    return dispatch


async def _not_found(request: Request) -> Response:
    return problems.not_found(f"no endpoint at {request.url.path}").response()


def _login_problem(code: str, detail: str | None, req_id: str) -> problems.ProblemError:
    """Return the problem of a failed login: every credential fault is one 401 answer."""
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


def _product_view(product: Any) -> dict[str, Any]:
    return {
        "uid": product.uid,
        "seller_uid": product.seller_uid,
        "product_name": product.product_name,
        "cost": product.cost,
        "amount": product.amount,
    }


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


def operations() -> list[Operation]:
    """Return every operation of the API, in the order the OpenAPI document lists them."""
    body_errors = (400, 413, 422)
    token_errors = (401,)
    queued = {202: (s.Accepted, "Queued: poll the Location URL for the result")}
    product_id = [_path_parameter("id", "product id")]
    return [
        Operation("POST", "/users", RestApi.create_user, "Create a user", "users",
                  {201: (s.UserPublic, "The new user")}, (*body_errors, 409, 503),
                  body=s.UserCreate, auth=False),
        Operation("GET", "/users/me", RestApi.me, "Read the caller's account", "users",
                  {200: (s.UserPublic, "The caller's account")}, token_errors),
        Operation("PATCH", "/users/me", RestApi.change_password, "Change the password", "users",
                  {200: (s.UserPublic, "The account"), **queued},
                  (*token_errors, *body_errors, 403), body=s.PasswordChange, queued=True),
        Operation("DELETE", "/users/me", RestApi.delete_me, "Delete the caller's account",
                  "users", {200: (s.UserDeleted, "The deleted account and its change"),
                            **queued}, token_errors, queued=True),
        Operation("POST", "/auth/login", RestApi.login, "Log in", "sessions",
                  {200: (s.TokenPublic, "A new bearer token")},
                  (*body_errors, 401, 429, 503), body=s.LoginRequest, auth=False),
        Operation("POST", "/auth/logout", RestApi.logout, "End the caller's token", "sessions",
                  {204: (None, "The token has ended"), **queued}, token_errors, queued=True),
        Operation("POST", "/auth/logout/all", RestApi.logout_all,
                  "End every session of the caller's account", "sessions",
                  {200: (s.LogoutAllResult, "Sessions ended"), **queued}, token_errors,
                  queued=True),
        Operation("GET", "/products", RestApi.list_products, "List products", "products",
                  {200: (s.ProductPage, "A page of products, oldest first")}, (422,),
                  auth=False, parameters=_PAGE_PARAMETERS),
        Operation("POST", "/products", RestApi.create_product, "Create a product", "products",
                  {201: (s.ProductPublic, "The new product"), **queued},
                  (*token_errors, 403, *body_errors), body=s.ProductCreate, queued=True),
        Operation("GET", "/products/{id}", RestApi.get_product, "Read a product", "products",
                  {200: (s.ProductPublic, "The product")}, (404,), auth=False,
                  parameters=product_id),
        Operation("PUT", "/products/{id}", RestApi.replace_product, "Replace a product",
                  "products", {200: (s.ProductPublic, "The product"), **queued},
                  (*token_errors, 403, 404, *body_errors), body=s.ProductReplace,
                  queued=True, parameters=product_id),
        Operation("PATCH", "/products/{id}", RestApi.patch_product, "Change some fields",
                  "products", {200: (s.ProductPublic, "The product"), **queued},
                  (*token_errors, 403, 404, *body_errors), body=s.ProductPatch,
                  queued=True, parameters=product_id),
        Operation("DELETE", "/products/{id}", RestApi.delete_product, "Delete a product",
                  "products", {204: (None, "The product is gone"), **queued},
                  (*token_errors, 403, 404), queued=True, parameters=product_id),
        Operation("POST", "/deposit", RestApi.deposit, "Insert a coin", "buying",
                  {200: (s.DepositResult, "The deposit after the coin"), **queued},
                  (*token_errors, 403, *body_errors), body=s.DepositRequest, queued=True),
        Operation("POST", "/buy", RestApi.buy, "Buy a product", "buying",
                  {200: (s.BuyResult, "The purchase and the change"), **queued},
                  (*token_errors, 403, 404, 409, *body_errors), body=s.BuyRequest,
                  queued=True),
        Operation("POST", "/reset", RestApi.reset, "Take the deposit back as coins", "buying",
                  {200: (s.ResetResult, "The coins handed back"), **queued},
                  (*token_errors, 403), queued=True),
        Operation("GET", "/requests/{req_id}", RestApi.request_status,
                  "Read the state of a request", "requests",
                  {200: (s.RequestStatus, "The request's state")}, (*token_errors, 404),
                  parameters=[_path_parameter("req_id", "request id from a 202 answer")]),
    ]  # fmt: skip
