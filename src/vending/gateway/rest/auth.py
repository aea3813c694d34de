"""Bearer authentication of REST calls."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from vending.domain.errors import Code
from vending.domain.users import Role
from vending.gateway.auth import Authenticator
from vending.gateway.rest.problems import ProblemError, unauthorized
from vending.gateway.tokens import hash_token


@dataclass(frozen=True, slots=True)
class Caller:
    """The account behind a live bearer token."""

    uid: str
    role: Role
    token_hash: str


def bearer_token(request: Request) -> str:
    """Return the token of an `Authorization: Bearer <token>` header; raise 401 otherwise."""
    header = request.headers.get("authorization")
    if header is None:
        raise unauthorized("missing Authorization header: send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("the Authorization header must be 'Bearer <token>'")
    return token


async def authenticate(request: Request, auth: Authenticator) -> Caller:
    """Return the caller; raise 401 for a missing, unknown, ended or expired token."""
    token = bearer_token(request)
    info = await auth.resolve(token)
    if info is None:
        raise unauthorized("the token is invalid, ended or expired; log in again")
    return Caller(info.uid, info.role, hash_token(token))


def require_role(caller: Caller, role: Role, code: Code) -> None:
    """Raise 403 with `code` unless the caller has `role`."""
    if caller.role is not role:
        raise ProblemError(403, code.value, f"only a {role.value} may do this")
