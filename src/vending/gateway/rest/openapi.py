"""The OpenAPI 3.1 document of `/api/v1`, built from the operation table and the msgspec
structs, and the `/docs` page (Swagger UI, served from the `swagger-ui-bundle-v2` package so
that the page needs no internet access)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from vending.gateway.rest import schemas as s
from vending.gateway.rest.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from vending.gateway.rest.routes import PREFIX, Operation

_REF = "#/components/schemas/{name}"

_DESCRIPTION = """\
Every change is a request through the service's FIFO queues. By default a call waits for the
worker's result (up to the server's wait time, 5 s by default) and returns it. With the header
`Prefer: respond-async`, or when the wait runs out, it returns 202 `{req_id, state: "queued"}` with
`Location: /api/v1/requests/{req_id}`. User creation and login never return 202: past the wait
they return 503 with `Retry-After`.

An `Idempotency-Key` header on an authenticated change makes a repeated call (same user, method,
path and key, within 24 h) return the first call's result without applying it again; the same
key with another body is 422. Errors are `application/problem+json` (RFC 9457) with a stable
`code`.
"""

_ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "No token, or a bad, ended or expired one (login: wrong credentials)",
    403: "Wrong role, not the owner, or a wrong current password",
    404: "No such resource",
    405: "Method not allowed on this path",
    409: "Conflict: duplicate user, stock or deposit short",
    413: "The body is over 64 KiB",
    422: "A field breaks a rule; `field` names it",
    429: "Too many failed logins; see Retry-After",
    500: "The server failed",
    503: "Not applied in time; see Retry-After",
}

_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "makes a retried call return the first call's result (kept 24 h)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
_PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "`respond-async` answers 202 at once, with the request's status URL",
    "schema": {"type": "string"},
}


def build_document(operations: list[Operation], password_min_length: int) -> dict[str, Any]:
    """Return the OpenAPI document of `operations`.

    `password_min_length` is the server's setting; it replaces the structs' static minimum of
    new passwords, so that the document states the rule the server applies.
    """
    structs: set[type[Any]] = {s.Problem}
    for operation in operations:
        if operation.body is not None:
            structs.add(operation.body)
        structs.update(t for t, _ in operation.responses.values() if t is not None)
    ordered = sorted(structs, key=lambda t: t.__name__)
    _, components = msgspec.json.schema_components(ordered, ref_template=_REF)
    for struct in (s.UserCreate, s.PasswordChange):
        if struct.__name__ in components:
            components[struct.__name__]["properties"]["password"]["minLength"] = password_min_length

    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(PREFIX + operation.path, {})[operation.method.lower()] = _operation(
            operation
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": "vending", "version": "1", "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(operation: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (body_type, description) in sorted(operation.responses.items()):
        response: dict[str, Any] = {"description": description}
        if body_type is not None:
            response["content"] = {
                "application/json": {"schema": {"$ref": _REF.format(name=body_type.__name__)}}
            }
        if status == 201 and operation.path == "/products":
            response["headers"] = {"Location": {"schema": {"type": "string"}}}
        if status == 202:
            response["headers"] = {"Location": {"schema": {"type": "string"}}}
        responses[str(status)] = response
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(name="Problem")}}}
    errors = {*operation.errors, 405, 500}
    if operation.queued:
        errors.add(422)  # a bad Idempotency-Key
    for status in sorted(errors):
        responses[str(status)] = {"description": _ERROR_DESCRIPTIONS[status], "content": problem}

    out: dict[str, Any] = {
        "operationId": operation.endpoint.__name__,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": responses,
    }
    parameters = list(operation.parameters)
    if operation.queued:
        parameters += [_IDEMPOTENCY_KEY, _PREFER]
    if parameters:
        out["parameters"] = parameters
    if operation.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(name=operation.body.__name__)}}
            },
        }
    out["security"] = [{"bearer": []}] if operation.auth else []
    return out


_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vending API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>
SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});
</script>
</body>
</html>
"""


def docs_routes(operations: list[Operation], password_min_length: int) -> list[BaseRoute]:
    """Return the routes of `/openapi.json`, `/docs` and the Swagger UI files."""
    document = msgspec.json.encode(build_document(operations, password_min_length))

    async def openapi_json(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def docs(request: Request) -> Response:
        return HTMLResponse(_DOCS_PAGE)

    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger-ui"),
    ]
