"""A test client for the seed protocol: one web session, with its own cookie jar."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx


class SeedClient:
    """Speaks the seed protocol as the original clients do: POST with a JSON body."""

    def __init__(self, transport: httpx.AsyncBaseTransport, base_url: str = "http://test") -> None:
        self.http = httpx.AsyncClient(transport=transport, base_url=base_url)
        self.token: str | None = None
        self.wsess_id: str | None = None
        self.username: str | None = None

    async def call(self, path: str, body: Any = None, **fields: Any) -> Any:
        """POST `body` (or `fields`, plus the session token) and return the decoded response."""
        if body is None:
            body = dict(fields)
            if self.token is not None:
                body.setdefault("token", self.token)
        response = await self.http.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def sign(self, action: str, username: str, password: str = "secret-pw") -> Any:
        """Register or log in (`action` is new_buyer, new_seller, buyer or seller); return `get`."""
        answer = await self.call(
            "/user", {"token": action, "username": username, "password": password}
        )
        self.wsess_id = answer["wsess_id"]
        got = await self.call("/user", {"token": "get"})
        if "token" in got:
            self.token = got["token"]
            self.username = username
        return got

    async def status(self, req_id: str, timeout: float = 3.0) -> Any:
        """Poll /req_status until the request has a status."""
        deadline = time.monotonic() + timeout
        while True:
            answer = await self.call("/req_status", req_id=req_id)
            if answer != {"error": "status unavailable"} or time.monotonic() > deadline:
                return answer
            await asyncio.sleep(0.002)

    async def submit(self, path: str, **fields: Any) -> str:
        """Submit a queued request and return its request id."""
        answer = await self.call(path, **fields)
        assert "req_id" in answer, answer
        req_id: str = answer["req_id"]
        return req_id

    async def do(self, path: str, **fields: Any) -> Any:
        """Submit a queued request and return its final status."""
        return await self.status(await self.submit(path, **fields))

    async def close(self) -> None:
        await self.http.aclose()
