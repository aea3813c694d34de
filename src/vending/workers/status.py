"""The status JSON a worker stores for each request, the same for every protocol."""

from __future__ import annotations

from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode


def succeeded(result: dict[str, Any]) -> bytes:
    return _encode({"ok": True, "result": result})


def failed(code: str, detail: str | None) -> bytes:
    return _encode({"ok": False, "code": code, "detail": detail})
