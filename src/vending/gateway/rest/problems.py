"""Errors as RFC 9457 problem details, and the HTTP status of each failure code."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus

import msgspec
from starlette.responses import Response

from vending.domain.errors import Code
from vending.gateway.rest.schemas import Problem, encode

MEDIA_TYPE = "application/problem+json"

STATUS_OF_CODE: dict[str, int] = {
    Code.BAD_INPUT: 422,
    Code.WRONG_AMOUNT: 422,
    Code.WRONG_COST: 422,
    Code.UNAUTHORIZED: 401,
    Code.DUPLICATE_USERNAME: 409,
    Code.INVALID_ROLE_USERNAME: 401,
    Code.INVALID_PASSWORD: 403,
    Code.TOO_MANY_ATTEMPTS: 429,
    Code.DEPOSIT_BUYERS_ONLY: 403,
    Code.SELL_SELLERS_ONLY: 403,
    Code.BUY_BUYERS_ONLY: 403,
    Code.RESET_BUYERS_ONLY: 403,
    Code.NOT_PRODUCT_OWNER: 403,
    Code.PRODUCT_NOT_FOUND: 404,
    Code.USER_NOT_FOUND: 404,
    Code.EMPTY_STOCK: 409,
    Code.INSUFFICIENT_STOCK: 409,
    Code.INSUFFICIENT_DEPOSIT: 409,
    Code.INTERNAL_ERROR: 500,
}
"""HTTP status by failure code; a code not listed here is a 500."""

_FIELD_AT = re.compile(r" - at `\$\.([A-Za-z_][A-Za-z0-9_]*)")
_FIELD_NAMED = re.compile(r"field `([^`]+)`")
_KNOWN_FIELDS = frozenset(
    {
        "username",
        "password",
        "current_password",
        "product_name",
        "cost",
        "amount",
        "amount_available",
    }
)


class ProblemError(Exception):
    """A problem response raised by an endpoint, with every member of the response."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        req_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = dict(headers or {})
        self.req_id = req_id

    def to_problem(self) -> Problem:
        return Problem(
            type=f"urn:vending:problem:{self.code}",
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            detail=self.detail,
            code=self.code,
            field=self.field,
            req_id=self.req_id,
        )

    def response(self) -> Response:
        return Response(
            encode(self.to_problem()),
            status_code=self.status,
            headers=self.headers,
            media_type=MEDIA_TYPE,
        )


def from_code(code: str, detail: str | None, req_id: str | None = None) -> ProblemError:
    """Return the problem for a failure code stored by a worker.

    The worker writes `unauthorized` in lower case (the seed protocol's spelling); the REST API
    sends every code in upper case.
    """
    status = STATUS_OF_CODE.get(code, 500)
    field = _field_of_detail(detail)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ProblemError(
        status, code.upper(), detail or HTTPStatus(status).phrase, field, headers, req_id
    )


def _field_of_detail(detail: str | None) -> str | None:
    """Return the field a worker's detail starts with (`cost must be ...`), if any."""
    if not detail:
        return None
    first = detail.split(" ", 1)[0]
    return first if first in _KNOWN_FIELDS else None


def from_validation(
    error: msgspec.ValidationError, rules: Mapping[str, str], fields: Sequence[str]
) -> ProblemError:
    """Return the 422 problem for a body that decoded as JSON but broke a schema rule.

    `rules` gives the rule of each field in words, and `fields` lists the body's fields. As in
    the seed protocol, a bad coin is WRONG_AMOUNT and a cost that is not a multiple of 5 is
    WRONG_COST. Every other rule is BAD_INPUT.
    """
    message = str(error)
    match = _FIELD_AT.search(message) or _FIELD_NAMED.search(message)
    field = match.group(1) if match else None
    code = Code.BAD_INPUT.value
    if field == "coin":
        code = Code.WRONG_AMOUNT.value
    elif field == "cost" and "multiple of" in message:
        code = Code.WRONG_COST.value
    return ProblemError(422, code, _validation_detail(message, field, rules, fields), field)


def _validation_detail(
    message: str, field: str | None, rules: Mapping[str, str], fields: Sequence[str]
) -> str:
    """Return the detail of a 422 problem: the broken rule in words, naming the field."""
    allowed = ", ".join(fields)
    if message.startswith("Object contains unknown field"):
        return f"unknown field {field!r}: the body may contain only {allowed}"
    rule = rules.get(field) if field is not None else None
    if message.startswith("Object missing required field"):
        return f"missing field {field!r}: {rule}" if rule else f"missing field {field!r}"
    if rule is not None:
        return rule
    if field is None and message.startswith("Expected `object`"):
        return f"the request body must be a JSON object with the fields {allowed}"
    return f"invalid request body: {message}"


def malformed(error: msgspec.DecodeError) -> ProblemError:
    return ProblemError(400, "MALFORMED_JSON", f"the body is not valid JSON: {error}")


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "UNAUTHORIZED", detail, headers={"WWW-Authenticate": "Bearer"})


def not_found(detail: str, code: str = "NOT_FOUND") -> ProblemError:
    return ProblemError(404, code, detail)
