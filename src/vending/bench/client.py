"""A minimal HTTP/1.1 keep-alive client on an asyncio protocol, for the benchmark.

It sends a GET, or a POST with a JSON body, and reads one response with a `Content-Length` body,
no more. That is all the seed protocol and the REST API need, and it costs the driver far less CPU
per request than a general client, which leaves more of a shared machine to the server being
measured.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import msgspec

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


class HttpError(Exception):
    """The connection failed or the server sent a response this client cannot read."""


class _ResponseReader(asyncio.Protocol):
    """Collects bytes until one whole response has arrived, then resolves `future`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.future: asyncio.Future[tuple[int, bytes]] | None = None
        self._buffer = bytearray()
        self._body_start = -1
        self._body_length = 0
        self._status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, so cast rather than check.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._body_start < 0 and not self._parse_head():
            return
        end = self._body_start + self._body_length
        if len(self._buffer) < end:
            return
        body = bytes(self._buffer[self._body_start : end])
        del self._buffer[:end]
        self._body_start = -1
        if self.future is not None and not self.future.done():
            self.future.set_result((self._status, body))

    def _parse_head(self) -> bool:
        """Read the status line and headers; return False until they are all here."""
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        lines = bytes(self._buffer[:head_end]).split(b"\r\n")
        self._status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                self._fail(HttpError("chunked responses are not supported by the bench client"))
                return False
        self._body_start = head_end + 4
        self._body_length = length
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(HttpError(f"connection closed by the server: {exc or 'end of stream'}"))

    def _fail(self, error: Exception) -> None:
        if self.future is not None and not self.future.done():
            self.future.set_exception(error)


class Connection:
    """One keep-alive connection; a request reconnects after the server closed it."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._reader: _ResponseReader | None = None
        self._opened = False
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self.reconnects = 0
        self.requests = 0

    async def post(self, path: str, body: Any) -> Any:
        """POST `body` as JSON to `path` and return the decoded JSON body of a 200 response."""
        status, raw = await self.request("POST", path, body)
        if status != 200:
            raise HttpError(f"{path} returned HTTP {status}, expected 200: {raw[:200]!r}")
        return _decode(raw)

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: bytes = b"",
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        """Send one request and return the response's status code and raw body.

        `body`, unless None, is sent as JSON. `headers` are extra header lines, each ending in
        CRLF. `timeout` (seconds) replaces the connection's timeout for this request. A timeout
        or a transport error closes the connection and raises HttpError.
        """
        head = b"%s %s HTTP/1.1\r\n%s%s" % (
            method.encode(),
            path.encode(),
            self._host_header,
            headers,
        )
        if body is None:
            message = head + b"\r\n"
        else:
            payload = _encode(body)
            message = b"%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
                head,
                len(payload),
                payload,
            )
        reader = await self._connected()
        loop = asyncio.get_running_loop()
        reader.future = loop.create_future()
        assert reader.transport is not None
        reader.transport.write(message)
        self.requests += 1
        limit = self._timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(reader.future, limit)
        except HttpError:
            self.close()
            raise
        except TimeoutError:
            self.close()
            raise HttpError(f"{method} {path} timed out after {limit:.1f} s") from None

    async def _connected(self) -> _ResponseReader:
        if self._reader is not None and self._reader.transport is not None:
            return self._reader
        if self._opened:
            self.reconnects += 1
        loop = asyncio.get_running_loop()
        try:
            transport, reader = await loop.create_connection(
                _ResponseReader, self._host, self._port
            )
        except OSError as exc:
            raise HttpError(f"cannot connect to {self._host}:{self._port}: {exc}") from exc
        # uvloop may call connection_made only after create_connection has returned.
        reader.transport = transport
        self._reader = reader
        self._opened = True
        return reader

    def close(self) -> None:
        if self._reader is not None and self._reader.transport is not None:
            self._reader.transport.close()
        self._reader = None
