"""Statuses, products and errors on the WebSocket session, in the REST API's shapes.

The bodies come from the REST API's own renderers, so a result or an error reads the same on
both protocols.
"""

from __future__ import annotations

from typing import Any

import msgspec

from vending.gateway.hub import Status
from vending.gateway.rest import problems, render
from vending.gateway.rest import schemas as s


def product_view(product: dict[str, Any]) -> dict[str, Any]:
    """Return a worker's product view as the REST API shows a product."""
    out: dict[str, Any] = msgspec.to_builtins(render.product(product))
    return out


def status_view(status: Status) -> dict[str, Any]:
    """Return a final status as `GET /api/v1/requests/{req_id}` does: `{req_id, state,
    result}` or `{req_id, state, error}`, the error being problem details."""
    if status.ok:
        result = render.as_builtins(status.kind, status.result or {})
        body = s.RequestStatus(req_id=status.req_id, state="done", result=result)
    else:
        error = problems.from_code(status.code or "", status.detail, status.req_id)
        body = s.RequestStatus(req_id=status.req_id, state="failed", error=error.to_problem())
    out: dict[str, Any] = msgspec.to_builtins(body)
    if status.ok and "result" not in out:
        out["result"] = None
    return out


def problem_view(status: int, code: str, detail: str) -> dict[str, Any]:
    """Return problem details for a fault the WebSocket session finds itself."""
    out: dict[str, Any] = msgspec.to_builtins(
        problems.ProblemError(status, code, detail).to_problem()
    )
    return out
