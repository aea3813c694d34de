"""Submitting a command for a REST call: idempotency keys, async mode and the wait for a result."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from vending.domain.commands import Command
from vending.gateway.body import BodyTooLarge, read_body
from vending.gateway.hub import RequestHub, RequestSkipped, Status, new_req_id
from vending.gateway.rest import problems
from vending.gateway.rest.auth import Caller
from vending.gateway.rest.bodies import BodyDecoder
from vending.gateway.rest.render import RENDER
from vending.gateway.rest.schemas import Accepted, encode
from vending.gateway.tokens import now_ms
from vending.store import idempotency
from vending.store.database import Database, Tx

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX_LENGTH = 255
REQUESTS_PATH = "/api/v1/requests/"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return `body` (a msgspec struct or plain values) as JSON; None gives an empty 204."""
    if body is None:
        return Response(status_code=204, headers=headers)
    return Response(encode(body), status, headers, media_type="application/json")


async def read_json(request: Request, body: BodyDecoder) -> tuple[Any, bytes]:
    """Return the decoded body and its bytes; raise 413, 400 or 422 problems."""
    try:
        raw = await read_body(request)
    except BodyTooLarge:
        raise problems.ProblemError(
            413, "BODY_TOO_LARGE", "the request body is over the 64 KiB limit"
        ) from None
    try:
        return body.decode(raw), raw
    except msgspec.ValidationError as error:
        raise problems.from_validation(error, body.rules, body.fields) from None
    except msgspec.DecodeError as error:
        raise problems.malformed(error) from None


def prefers_async(request: Request) -> bool:
    """Return True when the `Prefer` header requests `respond-async` (RFC 7240)."""
    prefer = request.headers.get("prefer")
    if prefer is None:
        return False
    return any(
        part.split(";", 1)[0].strip().lower() == "respond-async" for part in prefer.split(",")
    )


def status_response(
    status: Status, created_location: Callable[[Any], str] | None = None
) -> Response:
    """Return a final status as the call's response: the rendered result, or its problem."""
    if not status.ok:
        raise problems.from_code(status.code or "INTERNAL_ERROR", status.detail, status.req_id)
    body = RENDER[status.kind](status.result or {})
    if created_location is not None and body is not None:
        return json_response(body, 201, {"Location": created_location(body)})
    return json_response(body)


def accepted(req_id: str, preference_applied: bool) -> Response:
    headers = {"Location": REQUESTS_PATH + req_id}
    if preference_applied:
        headers["Preference-Applied"] = "respond-async"
    return json_response(Accepted(req_id=req_id, state="queued"), 202, headers)


class CallRunner:
    """Submits the command of a mutating call and returns the response for its result.

    With an `Idempotency-Key` header the key is bound to the request in the transaction that
    queues it, so that a repeated key never queues a second request: the repeat waits for the
    first request's status instead.
    """

    def __init__(
        self, database: Database, hub: RequestHub, wait_seconds: float, idempotency_ttl_ms: int
    ) -> None:
        self._database = database
        self._hub = hub
        self._wait_seconds = wait_seconds
        self._idempotency_ttl_ms = idempotency_ttl_ms

    async def run(
        self,
        request: Request,
        caller: Caller,
        command: Command,
        raw_body: bytes = b"",
        created_location: Callable[[Any], str] | None = None,
    ) -> Response:
        """Queue `command`, wait for its status and return the response for it.

        `created_location` turns a success into 201 with that `Location`. The response is 202
        with the request's status URL when the client prefers `respond-async` or the wait runs
        out.
        """
        key = request.headers.get("idempotency-key")
        if key is None:
            req_id = await self._hub.submit(command, caller.uid)
        else:
            req_id = await self._submit_once(request, caller, command, raw_body, key)

        if prefers_async(request):
            return accepted(req_id, preference_applied=True)
        status = await self._hub.wait(req_id, self._wait_seconds)
        if status is None:
            log.info("request %s still queued after %.1f s", req_id, self._wait_seconds)
            return accepted(req_id, preference_applied=False)
        return status_response(status, created_location)

    async def _submit_once(
        self, request: Request, caller: Caller, command: Command, raw_body: bytes, key: str
    ) -> str:
        """Queue `command` unless `key` already names a request; return the request's id."""
        if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH:
            raise problems.ProblemError(
                422,
                "BAD_INPUT",
                f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters",
                field="Idempotency-Key",
            )
        scope = f"{caller.uid}\n{request.method}\n{request.url.path}\n{key}"
        fingerprint = hashlib.sha256(raw_body).hexdigest()
        req_id = new_req_id()
        now = now_ms()

        def bind_key(tx: Tx) -> bool:
            return idempotency.claim(tx, scope, fingerprint, req_id, now, self._idempotency_ttl_ms)

        try:
            return await self._hub.submit(command, caller.uid, req_id=req_id, guard=bind_key)
        except RequestSkipped:
            pass
        record = await self._database.read(lambda tx: idempotency.get(tx, scope))
        if record is None:
            # The binding expired and was purged between the two transactions.
            return await self._hub.submit(command, caller.uid)
        if record.fingerprint != fingerprint:
            raise problems.ProblemError(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used with another request body; use a new key",
                field="Idempotency-Key",
            )
        log.info("request %s repeated with its Idempotency-Key", record.req_id)
        return record.req_id
