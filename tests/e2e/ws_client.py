"""Helpers for WebSocket tests: accounts made over HTTP, and reading messages until a match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient, WebSocketTestSession

PASSWORD = "secret-pw"


def sign_up(client: TestClient, role: str, username: str) -> str:
    """Create an account through the REST API, sign in, and return the bearer token."""
    body = {"username": username, "password": PASSWORD, "role": role}
    created = client.post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    login = client.post("/api/v1/auth/login", json=body)
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


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
