"""Worker results and products in the shapes of the REST API, shared by the WebSocket session."""

from __future__ import annotations

from typing import Any

from vending.gateway.hub import Status


def product_view(product: dict[str, Any]) -> dict[str, Any]:
    """Return a worker's product (`uid`, `seller_uid`, `amount`) with the REST API's names."""
    return {
        "id": product["uid"],
        "seller_id": product["seller_uid"],
        "product_name": product["product_name"],
        "cost": product["cost"],
        "amount_available": product["amount"],
    }


def result_view(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """Return the result of a successful request of `kind` as the REST API returns it."""
    if kind == "deposit":
        return {"deposit": result["deposit"]}
    if kind in ("create_product", "update_product"):
        return product_view(result)
    if kind == "delete_product":
        return {"id": result["product_uid"]}
    if kind in ("register", "login"):
        return {
            "id": result["uid"],
            "username": result["username"],
            "role": result["role"],
            "deposit": result["deposit"],
        }
    if kind == "delete_user":
        return {"id": result["uid"], "change": result["change"]}
    return result


def status_view(status: Status) -> dict[str, Any]:
    """Return a final status as `{req_id, state, result}` or `{req_id, state, error}`."""
    if status.ok:
        return {
            "req_id": status.req_id,
            "state": "done",
            "result": result_view(status.kind, status.result or {}),
        }
    return {
        "req_id": status.req_id,
        "state": "failed",
        "error": {"code": status.code, "detail": status.detail},
    }
