"""Accounts: roles, user ids, username and password rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from vending.domain.errors import Code, DomainError

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{3,32}")
USERNAME_RULE = "username must be 3 to 32 characters of ASCII letters, digits, '_', '.' or '-'"
PASSWORD_MAX_LENGTH = 128
LOGIN_FAILURE_WINDOW_MS = 60_000
"""Failed logins count against the login limits for this long, in milliseconds."""


class Role(StrEnum):
    BUYER = "buyer"
    SELLER = "seller"


@dataclass(frozen=True, slots=True)
class User:
    """An account as the workers see it. `deposit` is in cents."""

    uid: str
    username: str
    role: Role
    deposit: int


def make_uid(role: Role, username: str) -> str:
    """Return the account id `<role>_<username>`."""
    return f"{role.value}_{username}"


def parse_role(value: object) -> Role:
    """Return the role named by `value`; raise BAD_INPUT for anything else."""
    if isinstance(value, str):
        try:
            return Role(value)
        except ValueError:
            pass
    raise DomainError(Code.BAD_INPUT, "role must be 'buyer' or 'seller'")


def check_username(value: object) -> str:
    """Return `value` when it is a valid username; raise BAD_INPUT naming the rule otherwise."""
    if not isinstance(value, str) or not USERNAME_PATTERN.fullmatch(value):
        raise DomainError(Code.BAD_INPUT, USERNAME_RULE)
    return value


def password_rule(min_length: int) -> str:
    """Return the rule of new passwords, for a server whose minimum length is `min_length`."""
    return f"password must be {min_length} to {PASSWORD_MAX_LENGTH} characters long"


def check_password(value: object, min_length: int) -> str:
    """Return `value` when its length is within [min_length, 128]; raise BAD_INPUT otherwise."""
    if not isinstance(value, str):
        raise DomainError(Code.BAD_INPUT, "password must be a string")
    if not min_length <= len(value) <= PASSWORD_MAX_LENGTH:
        raise DomainError(Code.BAD_INPUT, password_rule(min_length))
    return value


def require_role(user: User, role: Role, code: Code) -> None:
    """Raise `code` unless `user` has `role`."""
    if user.role is not role:
        raise DomainError(code, f"only a {role.value} may do this")
