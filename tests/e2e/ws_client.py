"""Helpers for WebSocket tests: accounts made over HTTP, and reading messages until a match."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient, WebSocketTestSession

PASSWORD = "secret-pw"
_sessions = itertools.count()


def sign_up(client: TestClient, role: str, username: str) -> str:
    """Create an account through the seed protocol and return its bearer token."""
    wsess_id = f"test-session-{next(_sessions)}"
    body = {"token": f"new_{role}", "username": username, "password": PASSWORD}
    created = client.post("/user", json={**body, "wsess_id": wsess_id}).json()
    assert "wsess_id" in created, created
    got = client.post("/user", json={"token": "get", "wsess_id": created["wsess_id"]}).json()
    assert "token" in got, got
    return str(got["token"])


def receive_until(
    ws: WebSocketTestSession, done: Callable[[dict[str, Any]], bool], limit: int = 50
) -> list[dict[str, Any]]:
    """Return the messages received up to and including the first one for which `done` holds."""
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        message = ws.receive_json()
        seen.append(message)
        if done(message):
            return seen
    raise AssertionError(f"no matching message among {seen}")


def of_type(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    """Return a predicate matching messages of `type` kind whose fields have the given values."""

    def match(message: dict[str, Any]) -> bool:
        return message.get("type") == kind and all(message.get(k) == v for k, v in fields.items())

    return match


def authenticate(ws: WebSocketTestSession, token: str) -> dict[str, Any]:
    """Send the auth message and return the welcome."""
    ws.send_json({"op": "auth", "token": token})
    welcome = ws.receive_json()
    assert welcome["type"] == "welcome", welcome
    return welcome


def request(ws: WebSocketTestSession, ref: str, **message: Any) -> dict[str, Any]:
    """Send a request with `ref`; return its status, checking that acceptance came first."""
    ws.send_json({**message, "ref": ref})
    seen = receive_until(ws, of_type("status", ref=ref))
    accepted = [m for m in seen if m["type"] == "accepted" and m["ref"] == ref]
    assert len(accepted) == 1, seen
    assert accepted[0]["req_id"] == seen[-1]["req_id"]
    return seen[-1]
