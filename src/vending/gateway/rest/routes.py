"""The table of `/api/v1` operations, which gives both the routes and the OpenAPI document."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vending.domain.errors import Code
from vending.gateway.rest import problems
from vending.gateway.rest import schemas as s
from vending.gateway.rest.endpoints import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, PREFIX, RestApi

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
UnboundEndpoint = Callable[[RestApi, Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path: its endpoint and its OpenAPI description.

    `responses` maps a status to its body type (None: no body) and description; every
    operation may also return the problems that `errors` lists.
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


def dispatchers(api: RestApi) -> dict[str, Endpoint]:
    """Return the endpoint of each path, which picks the operation by method (405 otherwise)."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for operation in operations():
        methods = by_path.setdefault(PREFIX + operation.path, {})
        endpoint = functools.partial(operation.endpoint, api)
        methods[operation.method] = endpoint
        if operation.method == "GET":
            methods["HEAD"] = endpoint
    return {path: _dispatch(methods) for path, methods in by_path.items()}


def routes(api: RestApi) -> list[Route]:
    """Return one route per path, and a 404 problem for any other path under the prefix."""
    routes = [
        Route(path, endpoint, methods=ANY_METHOD, name=None)
        for path, endpoint in dispatchers(api).items()
    ]
    routes.append(Route(PREFIX, _not_found, methods=ANY_METHOD))
    routes.append(Route(PREFIX + "/{rest:path}", _not_found, methods=ANY_METHOD))
    return routes


ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
"""The methods of RFC 9110 and PATCH. Starlette rejects any other method with a plain-text 405."""

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
                  parameters=[_path_parameter("req_id", "request id from a 202 response")]),
    ]  # fmt: skip
