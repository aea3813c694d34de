"""The benchmark's calls over the seed protocol.

Every change is a POST that returns a `req_id` at once. The driver polls `/req_status` as soon as
that response arrives, then every `poll` seconds, until the status is final. An operation with
no final status `lost_after` seconds after its submit is given up as lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from vending.bench.api import Outcome, Role, SetupError, UnexpectedResponse, User

NOT_YET = {"error": "status unavailable"}
SIGN_IN_TRIES = 3


class SeedApi:
    """`Api` over the seed protocol; times are in seconds."""

    def __init__(self, poll: float, lost_after: float) -> None:
        self._poll = poll
        self._lost_after = lost_after

    async def sign_up(self, user: User, role: Role, password: str) -> None:
        connection = user.connection
        body = {"token": f"new_{role}", "username": user.username, "password": password}
        answer = await connection.post("/user", body)
        if "wsess_id" not in answer:
            raise SetupError(f"sign-up of {user.username} failed: {answer}")
        user.wsess_id = answer["wsess_id"]
        for _ in range(SIGN_IN_TRIES):
            got = await connection.post("/user", {"token": "get", "wsess_id": user.wsess_id})
            if "token" in got:
                user.token = got["token"]
                return
            if got != {"error": "TIMEOUT"}:
                raise SetupError(f"sign-up of {user.username} failed: {got}")
        raise SetupError(f"sign-up of {user.username} got no token after {SIGN_IN_TRIES} tries")

    async def create_product(self, seller: User, name: str, cost: int, stock: int) -> str:
        body = {**self._credentials(seller), "product_name": name, "cost": cost, "amount": stock}
        try:
            status, _, _ = await self._operate(seller, "/sell", body)
        except UnexpectedResponse as exc:
            raise SetupError(f"creating product {name!r} failed: {exc}") from exc
        if status is None or not isinstance(status.get("success"), str):
            raise SetupError(f"creating product {name!r} failed: {status or 'lost'}")
        product_id: str = status["success"]
        return product_id

    async def deposit(self, buyer: User, coin: int) -> Outcome:
        body = {**self._credentials(buyer), "amount": coin}
        return self._outcome(*await self._operate(buyer, "/deposit", body))

    async def buy(self, buyer: User, product_id: str) -> Outcome:
        body = {**self._credentials(buyer), "product_uid": product_id, "amount": 1}
        status, started, finished = await self._operate(buyer, "/buy", body)
        outcome = self._outcome(status, started, finished)
        if outcome.status != "success":
            return outcome
        assert status is not None
        purchase = status["success"]
        if not isinstance(purchase, dict) or not isinstance(purchase.get("amount"), int):
            raise UnexpectedResponse(f"/buy returned the status {status}")
        return Outcome("success", started, finished, items=purchase["amount"])

    async def read_deposit(self, buyer: User) -> int:
        profile = await buyer.connection.post("/profile", self._credentials(buyer))
        if not isinstance(profile, dict) or not isinstance(profile.get("deposit"), int):
            raise UnexpectedResponse(f"/profile returned {profile}")
        deposit: int = profile["deposit"]
        return deposit

    async def read_stock(self, seller: User, product_ids: Sequence[str]) -> dict[str, int]:
        listed = await seller.connection.post("/products", {"uid": f"seller_{seller.username}"})
        if not isinstance(listed, list):
            raise UnexpectedResponse(f"/products returned {listed}")
        requested = set(product_ids)
        return {p["product_uid"]: p["amount"] for p in listed if p["product_uid"] in requested}

    @staticmethod
    def _credentials(user: User) -> dict[str, Any]:
        return {"wsess_id": user.wsess_id, "token": user.token}

    def _outcome(self, status: dict[str, Any] | None, started: float, finished: float) -> Outcome:
        if status is None:
            return Outcome("lost", started, finished)
        if "success" in status:
            return Outcome("success", started, finished)
        if "failed" in status:
            return Outcome("failed", started, finished, code=str(status["failed"]))
        raise UnexpectedResponse(f"unknown status {status}")

    async def _operate(
        self, user: User, path: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, float, float]:
        """Submit a queued request and poll until its final status; the status is None when lost.

        Returns the status with the `time.perf_counter()` values of the submit and of the end.
        """
        started = time.perf_counter()
        answer = await user.connection.post(path, body)
        req_id = answer.get("req_id") if isinstance(answer, dict) else None
        if not isinstance(req_id, str):
            raise UnexpectedResponse(f"{path} returned {answer}")
        query = {**self._credentials(user), "req_id": req_id}
        while True:
            status = await user.connection.post("/req_status", query)
            now = time.perf_counter()
            if status != NOT_YET:
                break
            if now - started > self._lost_after:
                return None, started, now
            await asyncio.sleep(self._poll)
        if not isinstance(status, dict):
            raise UnexpectedResponse(f"/req_status returned {status}")
        return status, started, now
