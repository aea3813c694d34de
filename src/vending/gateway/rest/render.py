"""Worker results as REST response bodies, by request kind.

A call that waited for its result and a later `GET /requests/{req_id}` render the same stored
status with the same function, so both return the same body.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from vending.gateway.rest import schemas as s

Result = dict[str, Any]


def product(view: Result) -> s.ProductPublic:
    """Return a product as the API shows it, from the worker's product view."""
    return s.ProductPublic(
        id=view["uid"],
        seller_id=view["seller_uid"],
        product_name=view["product_name"],
        cost=view["cost"],
        amount_available=view["amount"],
    )


def user(result: Result) -> s.UserPublic:
    return s.UserPublic(
        id=result["uid"],
        username=result["username"],
        role=result["role"],
        deposit=result["deposit"],
    )


def expires_at(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def _buy(result: Result) -> s.BuyResult:
    return s.BuyResult(
        spent=result["spent"],
        product=s.ProductSummary(**result["product"]),
        amount=result["amount"],
        change=result["change"],
        deposit=result["deposit"],
    )


def _login(result: Result) -> dict[str, Any]:
    # The token itself is never stored, so a status shows only when the session expires.
    return {
        "expires_at": expires_at(result["expires_at"]),
        "active_sessions": result["active_sessions"],
    }


RENDER: dict[str, Callable[[Result], Any]] = {
    "register": user,
    "login": _login,
    "logout": lambda result: None,
    "logout_all": lambda result: s.LogoutAllResult(ended=result["ended"]),
    "change_password": user,
    "delete_user": lambda result: s.UserDeleted(id=result["uid"], change=result["change"]),
    "deposit": lambda result: s.DepositResult(deposit=result["deposit"]),
    "reset": lambda result: s.ResetResult(change=result["change"], deposit=result["deposit"]),
    "create_product": product,
    "update_product": product,
    "delete_product": lambda result: None,
    "buy": _buy,
}
"""The response body of each kind of request; None means no body (204)."""


def as_builtins(kind: str, result: Result) -> dict[str, Any] | None:
    """Return the rendered result as plain JSON values, for `RequestStatus.result`."""
    body = RENDER[kind](result)
    if body is None:
        return None
    out: dict[str, Any] = msgspec.to_builtins(body)
    return out
