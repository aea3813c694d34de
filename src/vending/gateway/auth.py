"""Sign-up, login and token checks, shared by the seed protocol and the REST API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from vending.domain import commands as c
from vending.domain.errors import Code, DomainError
from vending.domain.users import (
    LOGIN_FAILURE_WINDOW_MS,
    PASSWORD_MAX_LENGTH,
    USERNAME_PATTERN,
    Role,
    check_password,
    check_username,
    make_uid,
)
from vending.gateway.hub import RequestHub, new_req_id
from vending.gateway.passwords import PasswordHasher, cost_of
from vending.gateway.tokens import TokenCache, hash_token, new_token, now_ms
from vending.store import repository
from vending.store import sessions as session_sql
from vending.store.database import Database, Tx
from vending.store.repository import TokenInfo

T = TypeVar("T")


async def _ready(value: T) -> T:
    return value


@dataclass(slots=True)
class SignIn:
    """A register or login request that was accepted; `token` becomes valid if it succeeds."""

    req_id: str
    token: str
    uid: str


class Authenticator:
    """Turns credentials into queued register and login requests, and checks bearer tokens."""

    def __init__(
        self,
        database: Database,
        hub: RequestHub,
        hasher: PasswordHasher,
        tokens: TokenCache,
        password_min_length: int,
        token_ttl_seconds: int,
        failures_per_account: int,
        failures_per_address: int,
    ) -> None:
        self._database = database
        self._hub = hub
        self._hasher = hasher
        self._tokens = tokens
        self._password_min_length = password_min_length
        self._token_ttl_ms = token_ttl_seconds * 1000
        self._failures_per_account = failures_per_account
        self._failures_per_address = failures_per_address
        self._last_of_account: dict[str, asyncio.Future[None]] = {}

    @property
    def password_min_length(self) -> int:
        """The minimum length of a new password, in characters."""
        return self._password_min_length

    async def register(
        self,
        role: Role,
        username: object,
        password: object,
        wsess_id: str | None = None,
        sign_in: bool = True,
    ) -> SignIn:
        """Queue a sign-up; input faults are queued too, as a rejected request.

        With `sign_in` false the account gets no token (REST user creation does not log in).
        """
        uid = make_uid(role, username if isinstance(username, str) else "")
        try:
            check_username(username)
            plain = check_password(password, self._password_min_length)
        except DomainError as error:
            rejected = c.Register(
                uid, str(username), role.value, None, None, 0, error.code, error.detail
            )
            return await self._enqueue_in_order(
                uid, _ready(None), lambda _: rejected, None, wsess_id
            )

        token = new_token() if sign_in else None
        work = self._hasher.hash(uid, plain)
        return await self._enqueue_in_order(
            uid,
            work,
            lambda password_hash: c.Register(
                uid=uid,
                username=str(username),
                role=role.value,
                password_hash=password_hash,
                token_hash=None if token is None else hash_token(token),
                expires_at=now_ms() + self._token_ttl_ms,
            ),
            token,
            wsess_id,
        )

    async def login(
        self,
        role: Role,
        username: object,
        password: object,
        client_addr: str,
        wsess_id: str | None = None,
    ) -> SignIn:
        """Queue a login. Too many recent failures, or malformed input, queue a rejection."""
        name = username if isinstance(username, str) else ""
        uid = make_uid(role, name)
        rejection = await self._login_rejection(uid, username, password, client_addr)
        if rejection is not None:
            rejected = c.Login(uid, None, None, 0, client_addr, rejection.code, rejection.detail)
            return await self._enqueue_in_order(
                uid, _ready(None), lambda _: rejected, None, wsess_id
            )

        assert isinstance(password, str)
        token = new_token()
        stored = await self._database.read(lambda tx: repository.get_password_hash(tx, uid))
        work = self._hasher.hash(uid, password, cost_of(stored))
        return await self._enqueue_in_order(
            uid,
            work,
            lambda verifier: c.Login(
                uid=uid,
                verifier=verifier,
                token_hash=hash_token(token),
                expires_at=now_ms() + self._token_ttl_ms,
                client_addr=client_addr,
                failures_per_account=self._failures_per_account,
                failures_per_address=self._failures_per_address,
            ),
            token,
            wsess_id,
        )

    async def password_change(
        self, uid: str, token_hash: str, current_password: str, new_password: str
    ) -> c.ChangePassword:
        """Build the command that changes a password, for the caller to submit.

        The gateway hashes both passwords: `current_password` at the stored hash's cost, as a
        login verifier, which the gatekeeper compares. Raise DomainError (BAD_INPUT) when the
        new password breaks the length rule.
        """
        plain = check_password(new_password, self._password_min_length)
        stored = await self._database.read(lambda tx: repository.get_password_hash(tx, uid))
        verifier, new_hash = await asyncio.gather(
            self._hasher.hash(uid, current_password, cost_of(stored)),
            self._hasher.hash(uid, plain),
        )
        return c.ChangePassword(uid, token_hash, verifier, new_hash)

    async def _login_rejection(
        self, uid: str, username: object, password: object, client_addr: str
    ) -> DomainError | None:
        if not isinstance(username, str) or not isinstance(password, str):
            return DomainError(Code.BAD_INPUT, "username and password must be strings")
        if not password or len(password) > PASSWORD_MAX_LENGTH:
            return DomainError(
                Code.INVALID_PASSWORD, f"password must be 1 to {PASSWORD_MAX_LENGTH} characters"
            )
        # This check saves the password hash of a login that is sure to fail. The gatekeeper
        # checks again, because logins sent at once all pass here before a failure is recorded.
        since = now_ms() - LOGIN_FAILURE_WINDOW_MS
        by_account, by_address = await self._database.read(
            lambda tx: repository.count_login_failures(tx, uid, client_addr, since)
        )
        if by_account >= self._failures_per_account or by_address >= self._failures_per_address:
            return DomainError(Code.TOO_MANY_ATTEMPTS, "too many failed logins; retry in a minute")
        if not USERNAME_PATTERN.fullmatch(username):
            return DomainError(Code.INVALID_ROLE_USERNAME, "no account with that role and username")
        return None

    async def _enqueue_in_order(
        self,
        uid: str,
        work: Awaitable[T],
        build: Callable[[T], c.Register | c.Login],
        token: str | None,
        wsess_id: str | None,
    ) -> SignIn:
        """Enqueue after `work` (hashing) completes, in the order the requests arrived here.

        Requests of one account wait for the one before them to be enqueued, so a login that
        follows a sign-up by a few milliseconds is applied after it.
        """
        previous = self._last_of_account.get(uid)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last_of_account[uid] = mine
        try:
            value = await work
            if previous is not None:
                await asyncio.shield(previous)
            return await self._submit(build(value), uid, token, wsess_id)
        finally:
            mine.set_result(None)
            if self._last_of_account.get(uid) is mine:
                del self._last_of_account[uid]

    async def _submit(
        self,
        command: c.Register | c.Login,
        uid: str,
        token: str | None,
        wsess_id: str | None,
    ) -> SignIn:
        req_id = new_req_id()

        def park_token(tx: Tx) -> None:
            if wsess_id is not None:
                session_sql.start_auth_request(tx, wsess_id, req_id, token, now_ms())

        await self._hub.submit(command, uid, wsess_id, park_token, req_id=req_id)
        return SignIn(req_id=req_id, token=token or "", uid=uid)

    async def resolve(self, token: str) -> TokenInfo | None:
        """Return the account behind a live token, or None for an unknown, ended or expired one."""
        token_hash = hash_token(token)
        info = self._tokens.get(token_hash)
        if info is not None:
            return info
        now = now_ms()
        info = await self._database.read(lambda tx: repository.lookup_token(tx, token_hash, now))
        if info is not None:
            self._tokens.put(token_hash, info)
        return info
