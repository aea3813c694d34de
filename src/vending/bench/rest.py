"""The benchmark's calls over the REST API v1 (`/api/v1`, bearer tokens).

A change waits on the server for its result and returns it (200 or 201), or returns 202 with a
`req_id` when the result took longer than the server's wait (`VENDING_REQUEST_WAIT_SECONDS`) or
the call sent `Prefer: respond-async`. The driver then polls `GET /api/v1/requests/{req_id}`,
first after `poll` seconds and then every `poll` seconds. An operation that got 202 and has no
final state `lost_after` seconds after its submit is given up as lost. A direct response is waited
for up to `lost_after + timeout` seconds and counts whenever it arrives, as in the Go driver
`vendload`. A 409 is a failed operation (for example `INSUFFICIENT_DEPOSIT`), and any other
status is unexpected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import quote

import msgspec

from vending.bench.api import Outcome, Role, SetupError, UnexpectedResponse, User
from vending.bench.client import Connection

API = "/api/v1"
SIGN_IN_TRIES = 3
# Sign-up and login return 503 with `Retry-After: 1` when the server's wait ran out.
SIGN_IN_RETRY_SECONDS = 1.0

Status = Literal["success", "failed", "lost"]


class RestApi:
    """`Api` over the REST API v1; times are in seconds.

    With `prefer_async`, deposits and buys send `Prefer: respond-async`, so that each returns 202
    at once and its result is polled, as on the seed protocol.
    """

    def __init__(
        self, poll: float, lost_after: float, timeout: float, prefer_async: bool = False
    ) -> None:
        self._poll = poll
        self._lost_after = lost_after
        self._direct_timeout = lost_after + timeout
        self._prefer = b"Prefer: respond-async\r\n" if prefer_async else b""

    async def sign_up(self, user: User, role: Role, password: str) -> None:
        account = {"username": user.username, "password": password, "role": role}
        await self._create_user(user.connection, account)
        user.token = await self._login(user.connection, account)

    async def create_product(self, seller: User, name: str, cost: int, stock: int) -> str:
        body = {"product_name": name, "cost": cost, "amount_available": stock}
        try:
            status, result, _, _ = await self._change(seller, "/products", body, b"")
        except UnexpectedResponse as exc:
            raise SetupError(f"creating product {name!r} failed: {exc}") from exc
        if status != "success" or not isinstance(result.get("id"), str):
            raise SetupError(f"creating product {name!r} failed: {status} {result}")
        product_id: str = result["id"]
        return product_id

    async def deposit(self, buyer: User, coin: int) -> Outcome:
        status, result, started, finished = await self._change(
            buyer, "/deposit", {"coin": coin}, self._prefer
        )
        if status == "success" and not isinstance(result.get("deposit"), int):
            raise UnexpectedResponse(f"deposit result: {result}")
        return self._outcome(status, result, started, finished)

    async def buy(self, buyer: User, product_id: str) -> Outcome:
        body = {"product_id": product_id, "amount": 1}
        status, result, started, finished = await self._change(buyer, "/buy", body, self._prefer)
        if status != "success":
            return self._outcome(status, result, started, finished)
        if not isinstance(result.get("amount"), int):
            raise UnexpectedResponse(f"buy result: {result}")
        return Outcome("success", started, finished, items=result["amount"])

    async def read_deposit(self, buyer: User) -> int:
        code, raw = await buyer.connection.request("GET", f"{API}/users/me", headers=_bearer(buyer))
        account = _decode_object(code, raw, "GET /users/me", {200})
        if not isinstance(account.get("deposit"), int):
            raise UnexpectedResponse(f"GET /users/me returned {account}")
        deposit: int = account["deposit"]
        return deposit

    async def read_stock(self, seller: User, product_ids: Sequence[str]) -> dict[str, int]:
        stock: dict[str, int] = {}
        for product_id in product_ids:
            path = f"{API}/products/{quote(product_id, safe='')}"
            code, raw = await seller.connection.request("GET", path)
            product = _decode_object(code, raw, f"GET {path}", {200})
            if not isinstance(product.get("amount_available"), int):
                raise UnexpectedResponse(f"GET {path} returned {product}")
            stock[product_id] = product["amount_available"]
        return stock

    # ------------------------------------------------------------ sign-up

    async def _create_user(self, connection: Connection, account: dict[str, str]) -> None:
        """POST /users, retrying after a 503; a 409 after a 503 means the first try succeeded."""
        retried = False
        for _ in range(SIGN_IN_TRIES):
            code, raw = await connection.request("POST", f"{API}/users", account)
            if code == 201:
                return
            if code == 409 and retried and _problem_code(raw) == "DUPLICATE_USERNAME":
                return
            if code != 503:
                raise SetupError(f"sign-up of {account['username']} returned HTTP {code}: {raw!r}")
            retried = True
            await asyncio.sleep(SIGN_IN_RETRY_SECONDS)
        raise SetupError(f"sign-up of {account['username']} got 503 {SIGN_IN_TRIES} times")

    async def _login(self, connection: Connection, account: dict[str, str]) -> str:
        for _ in range(SIGN_IN_TRIES):
            code, raw = await connection.request("POST", f"{API}/auth/login", account)
            if code == 503:
                await asyncio.sleep(SIGN_IN_RETRY_SECONDS)
                continue
            try:
                body = _decode_object(code, raw, "POST /auth/login", {200})
            except UnexpectedResponse as exc:
                raise SetupError(f"login of {account['username']} failed: {exc}") from exc
            token = body.get("access_token")
            if not isinstance(token, str):
                raise SetupError(f"login of {account['username']} returned no token: {body}")
            return token
        raise SetupError(f"login of {account['username']} got 503 {SIGN_IN_TRIES} times")

    # ------------------------------------------------------------ changes

    async def _change(
        self, user: User, path: str, body: dict[str, Any], extra_headers: bytes
    ) -> tuple[Status, dict[str, Any], float, float]:
        """POST a change and return its status, its result or problem body, and the
        `time.perf_counter()` values of the submit and of the final state (or the loss)."""
        started = time.perf_counter()
        code, raw = await user.connection.request(
            "POST",
            API + path,
            body,
            _bearer(user) + extra_headers,
            timeout=self._direct_timeout,
        )
        if code == 202:
            accepted = _decode_object(code, raw, f"POST {path}", {202})
            req_id = accepted.get("req_id")
            if not isinstance(req_id, str):
                raise UnexpectedResponse(f"POST {path} returned 202 without a req_id: {accepted}")
            return await self._follow(user, req_id, started)
        finished = time.perf_counter()
        if code == 409:
            return "failed", _decode_object(code, raw, f"POST {path}", {409}), started, finished
        return "success", _decode_object(code, raw, f"POST {path}", {200, 201}), started, finished

    async def _follow(
        self, user: User, req_id: str, started: float
    ) -> tuple[Status, dict[str, Any], float, float]:
        """Poll a queued request until it is done or failed, or until `lost_after` has passed."""
        path = f"{API}/requests/{quote(req_id, safe='')}"
        deadline = started + self._lost_after
        while True:
            now = time.perf_counter()
            if now > deadline:
                return "lost", {}, started, now
            await asyncio.sleep(self._poll)
            code, raw = await user.connection.request("GET", path, headers=_bearer(user))
            now = time.perf_counter()
            state = _decode_object(code, raw, f"GET {path}", {200})
            if state.get("state") == "done" and isinstance(state.get("result"), dict):
                return "success", state["result"], started, now
            if state.get("state") == "failed" and isinstance(state.get("error"), dict):
                return "failed", state["error"], started, now
            if state.get("state") != "queued":
                raise UnexpectedResponse(f"GET {path} returned {state}")

    @staticmethod
    def _outcome(
        status: Status, result: dict[str, Any], started: float, finished: float
    ) -> Outcome:
        if status == "failed":
            return Outcome("failed", started, finished, code=str(result.get("code")))
        return Outcome(status, started, finished)


def _bearer(user: User) -> bytes:
    return b"Authorization: Bearer %s\r\n" % user.token.encode()


def _decode_object(code: int, raw: bytes, call: str, expected: set[int]) -> dict[str, Any]:
    """Return the JSON object body of a response whose status is in `expected`."""
    if code not in expected:
        raise UnexpectedResponse(f"{call} returned HTTP {code}: {raw[:200]!r}")
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise UnexpectedResponse(f"{call} returned a body that is not JSON: {raw[:200]!r}") from exc
    if not isinstance(body, dict):
        raise UnexpectedResponse(f"{call} returned {body!r}, expected a JSON object")
    return body


def _problem_code(raw: bytes) -> str | None:
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    return body.get("code") if isinstance(body, dict) else None
