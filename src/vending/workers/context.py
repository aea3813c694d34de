"""The context a request handler receives: the open transaction and the request's identity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vending.domain.errors import Code, DomainError
from vending.domain.users import User
from vending.store import repository
from vending.store.database import Tx


@dataclass(slots=True)
class Context:
    """One request being applied. Handlers append to `effects` what the gateway should hear of."""

    tx: Tx
    req_id: str
    now: int
    effects: list[dict[str, Any]] = field(default_factory=list)


def authorize(ctx: Context, uid: str, token_hash: str) -> User:
    """Return the account `uid` when `token_hash` is one of its live tokens.

    Raise `unauthorized` for an unknown, ended or expired token, a token of another account, or
    a deleted account.
    """
    return authorized(repository.user_by_token(ctx.tx, uid, token_hash, ctx.now))


def authorized(user: User | None) -> User:
    """Return `user`, the result of a token lookup; raise `unauthorized` when it found none."""
    if user is None:
        raise DomainError(Code.UNAUTHORIZED, "the token is invalid, ended or expired")
    return user


Handler = Callable[[Context, Any], dict[str, Any]]
"""Apply one command; return its result or raise DomainError. Writes roll back on DomainError."""

FailureHook = Callable[[Context, Any, DomainError], None]
"""Writes to make after a command failed and its own writes were rolled back."""
