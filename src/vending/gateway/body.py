"""Reading request bodies with a size limit."""

from __future__ import annotations

from starlette.requests import Request

MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """The request body is over MAX_BODY_BYTES."""


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return the request body; raise BodyTooLarge as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
