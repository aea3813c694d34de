"""The gatekeeper: accounts and tokens (auth.fifo), deposits and resets (deposit.fifo)."""

from __future__ import annotations

import hmac
from typing import Any

from vending.domain import commands as c
from vending.domain.coins import change_for, check_coin
from vending.domain.errors import Code, DomainError
from vending.domain.users import (
    LOGIN_FAILURE_WINDOW_MS,
    Role,
    check_username,
    parse_role,
    require_role,
)
from vending.store import repository, sessions
from vending.store.repository import LedgerEntry
from vending.workers.context import Context, FailureHook, Handler, authorize

LOGIN_FAILURE_CODES = frozenset({Code.INVALID_ROLE_USERNAME, Code.INVALID_PASSWORD})


def _reject_if_flagged(rejected: str | None, detail: str | None) -> None:
    if rejected is not None:
        raise DomainError(Code(rejected), detail)


def _signed_in(ctx: Context, req_id: str, uid: str, token_hash: str | None) -> None:
    wsess_id = sessions.finish_auth_request(ctx.tx, req_id, uid, token_hash, None)
    if wsess_id is not None:
        ctx.effects.append({"type": "session_token", "wsess_id": wsess_id, "uid": uid})


def register(ctx: Context, cmd: c.Register) -> dict[str, Any]:
    """Create an account; sign it in too when the command carries a token hash."""
    _reject_if_flagged(cmd.rejected, cmd.detail)
    role = parse_role(cmd.role)
    check_username(cmd.username)
    if cmd.password_hash is None:
        raise DomainError(Code.BAD_INPUT, "password is required")
    if repository.uid_taken(ctx.tx, cmd.uid):
        raise DomainError(Code.DUPLICATE_USERNAME, f"the {role.value} name is already taken")
    repository.insert_user(ctx.tx, cmd.uid, cmd.username, role, cmd.password_hash, ctx.now)
    active_sessions = 0
    if cmd.token_hash is not None:
        repository.insert_token(ctx.tx, cmd.token_hash, cmd.uid, ctx.now, cmd.expires_at)
        active_sessions = 1
    _signed_in(ctx, ctx.req_id, cmd.uid, cmd.token_hash)
    return {
        "uid": cmd.uid,
        "username": cmd.username,
        "role": role.value,
        "deposit": 0,
        "expires_at": cmd.expires_at,
        "active_sessions": active_sessions,
    }


def _check_login_limits(ctx: Context, cmd: c.Login) -> None:
    """Raise TOO_MANY_ATTEMPTS when the account or the client address is at its limit.

    One account's logins are applied one at a time, so the count includes every earlier one.
    """
    since = ctx.now - LOGIN_FAILURE_WINDOW_MS
    by_account, by_address = repository.count_login_failures(
        ctx.tx, cmd.uid, cmd.client_addr, since
    )
    account_limited = 0 < cmd.failures_per_account <= by_account
    address_limited = 0 < cmd.failures_per_address <= by_address
    if account_limited or address_limited:
        raise DomainError(Code.TOO_MANY_ATTEMPTS, "too many failed logins; retry in a minute")


def login(ctx: Context, cmd: c.Login) -> dict[str, Any]:
    _reject_if_flagged(cmd.rejected, cmd.detail)
    _check_login_limits(ctx, cmd)
    user = repository.get_user(ctx.tx, cmd.uid)
    if user is None:
        raise DomainError(Code.INVALID_ROLE_USERNAME, "no account with that role and username")
    stored = repository.get_password_hash(ctx.tx, cmd.uid) or ""
    if cmd.verifier is None or not hmac.compare_digest(stored, cmd.verifier):
        raise DomainError(Code.INVALID_PASSWORD, "the password is wrong")
    assert cmd.token_hash is not None
    active = repository.count_active_tokens(ctx.tx, cmd.uid, ctx.now)
    repository.insert_token(ctx.tx, cmd.token_hash, cmd.uid, ctx.now, cmd.expires_at)
    _signed_in(ctx, ctx.req_id, cmd.uid, cmd.token_hash)
    return {
        "uid": user.uid,
        "username": user.username,
        "role": user.role.value,
        "deposit": user.deposit,
        "expires_at": cmd.expires_at,
        "active_sessions": active + 1,
    }


def sign_in_failed(ctx: Context, cmd: c.Register | c.Login, error: DomainError) -> None:
    """Record a failed register or login for its session and for login rate limiting."""
    wsess_id = sessions.finish_auth_request(ctx.tx, ctx.req_id, cmd.uid, None, error.code.value)
    if wsess_id is not None:
        ctx.effects.append(
            {"type": "session_failed", "wsess_id": wsess_id, "code": error.code.value}
        )
    if isinstance(cmd, c.Login) and error.code in LOGIN_FAILURE_CODES:
        repository.record_login_failure(ctx.tx, cmd.uid, cmd.client_addr, ctx.now)


def _ended(ctx: Context, token_hashes: list[str]) -> None:
    wsess_ids = sessions.clear_token_everywhere(ctx.tx, token_hashes)
    ctx.effects.append({"type": "tokens_ended", "hashes": token_hashes, "wsess_ids": wsess_ids})


def logout(ctx: Context, cmd: c.Logout) -> dict[str, Any]:
    ended = repository.end_token(ctx.tx, cmd.token_hash, ctx.now)
    _ended(ctx, [cmd.token_hash])
    return {"ended": int(ended)}


def logout_all(ctx: Context, cmd: c.LogoutAll) -> dict[str, Any]:
    authorize(ctx, cmd.uid, cmd.token_hash)
    hashes = repository.end_all_tokens(ctx.tx, cmd.uid, ctx.now)
    _ended(ctx, hashes)
    return {"ended": len(hashes)}


def change_password(ctx: Context, cmd: c.ChangePassword) -> dict[str, Any]:
    """Replace the password hash and return the account."""
    user = authorize(ctx, cmd.uid, cmd.token_hash)
    stored = repository.get_password_hash(ctx.tx, cmd.uid) or ""
    if not hmac.compare_digest(stored, cmd.verifier):
        raise DomainError(Code.INVALID_PASSWORD, "current_password is wrong")
    repository.set_password_hash(ctx.tx, cmd.uid, cmd.new_password_hash)
    return {
        "uid": user.uid,
        "username": user.username,
        "role": user.role.value,
        "deposit": user.deposit,
    }


def delete_user(ctx: Context, cmd: c.DeleteUser) -> dict[str, Any]:
    """Delete an account: a buyer's deposit comes back as change; a seller's products go."""
    user = authorize(ctx, cmd.uid, cmd.token_hash)
    change: list[int] = []
    if user.deposit:
        change = change_for(user.deposit)
        repository.change_deposit(ctx.tx, user.uid, user.deposit, 0)
        entry = LedgerEntry("account_deleted", user.uid, deposit_delta=-user.deposit)
        repository.append_ledger(ctx.tx, ctx.req_id, ctx.now, entry)
    for product in repository.products_of(ctx.tx, user.uid, for_update=True):
        repository.delete_product(ctx.tx, product.uid)
        entry = LedgerEntry("product_deleted", user.uid, product.uid, stock_delta=-product.amount)
        repository.append_ledger(ctx.tx, ctx.req_id, ctx.now, entry)
        ctx.effects.append({"type": "product_deleted", "product_uid": product.uid})
    _ended(ctx, repository.end_all_tokens(ctx.tx, user.uid, ctx.now))
    repository.mark_user_deleted(ctx.tx, user.uid, ctx.now)
    return {"uid": user.uid, "change": change}


def deposit(ctx: Context, cmd: c.Deposit) -> dict[str, Any]:
    user = authorize(ctx, cmd.uid, cmd.token_hash)
    require_role(user, Role.BUYER, Code.DEPOSIT_BUYERS_ONLY)
    coin = check_coin(cmd.coin)
    balance = user.deposit + coin
    entry = LedgerEntry("deposit", user.uid, deposit_delta=coin)
    repository.record_deposit(ctx.tx, ctx.req_id, ctx.now, user, balance, [entry])
    ctx.effects.append({"type": "balance", "uid": user.uid, "deposit": balance})
    return {"coin": coin, "deposit": balance}


def reset(ctx: Context, cmd: c.Reset) -> dict[str, Any]:
    user = authorize(ctx, cmd.uid, cmd.token_hash)
    require_role(user, Role.BUYER, Code.RESET_BUYERS_ONLY)
    change = change_for(user.deposit)
    if user.deposit:
        entry = LedgerEntry("reset", user.uid, deposit_delta=-user.deposit)
        repository.record_deposit(ctx.tx, ctx.req_id, ctx.now, user, 0, [entry])
    ctx.effects.append({"type": "balance", "uid": user.uid, "deposit": 0})
    return {"change": change, "deposit": 0}


HANDLERS: dict[str, Handler] = {
    "register": register,
    "login": login,
    "logout": logout,
    "logout_all": logout_all,
    "change_password": change_password,
    "delete_user": delete_user,
    "deposit": deposit,
    "reset": reset,
}

FAILURE_HOOKS: dict[str, FailureHook] = {"register": sign_in_failed, "login": sign_in_failed}
