"""Bearer tokens: creation, hashing, and a cache of token lookups."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict

from vending.store.repository import TokenInfo


def new_token() -> str:
    """Return a new token of 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored everywhere."""
    return hashlib.sha256(token.encode()).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


class TokenCache:
    """Recently seen valid tokens. Entries go when the token ends (bus event) or expires."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._entries: OrderedDict[str, TokenInfo] = OrderedDict()
        self._capacity = capacity

    def get(self, token_hash: str) -> TokenInfo | None:
        info = self._entries.get(token_hash)
        if info is not None and info.expires_at <= now_ms():
            del self._entries[token_hash]
            return None
        return info

    def put(self, token_hash: str, info: TokenInfo) -> None:
        self._entries[token_hash] = info
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def drop(self, token_hashes: list[str]) -> None:
        for token_hash in token_hashes:
            self._entries.pop(token_hash, None)

    def clear(self) -> None:
        """Drop every entry (after events may have been missed)."""
        self._entries.clear()
