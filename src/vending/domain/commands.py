"""Requests that change state, as plain dataclasses.

The gateway builds one per accepted call and a queue carries it to the worker that owns the
data. Fields that come from the client unchecked are typed `Any`: the worker validates them, so
that faults are reported in one fixed order (token, role, input, product, owner, stock, deposit).
Every command names the account it acts for (`uid`); requests of one account are applied in the
order the gateway accepted them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Register:
    """Create an account, and sign it in when `token_hash` is set.

    `rejected` carries a fault the gateway already found.
    """

    uid: str
    username: str
    role: str
    password_hash: str | None
    token_hash: str | None
    expires_at: int
    rejected: str | None = None
    detail: str | None = None


@dataclass(slots=True)
class Login:
    """Sign in to an existing account with a password verifier computed by the gateway.

    `failures_per_account` and `failures_per_address` are the failed-login limits the worker
    enforces (0: no limit).
    """

    uid: str
    verifier: str | None
    token_hash: str | None
    expires_at: int
    client_addr: str = ""
    rejected: str | None = None
    detail: str | None = None
    failures_per_account: int = 0
    failures_per_address: int = 0


@dataclass(slots=True)
class Logout:
    """End one token."""

    uid: str
    token_hash: str


@dataclass(slots=True)
class LogoutAll:
    """End every token of the account that owns `token_hash`."""

    uid: str
    token_hash: str


@dataclass(slots=True)
class ChangePassword:
    """Replace the password; the gateway checked nothing, the worker compares `verifier`."""

    uid: str
    token_hash: str
    verifier: str
    new_password_hash: str


@dataclass(slots=True)
class DeleteUser:
    """Delete the account; a buyer's deposit comes back as change, a seller's products go."""

    uid: str
    token_hash: str


@dataclass(slots=True)
class Deposit:
    uid: str
    token_hash: str
    coin: Any


@dataclass(slots=True)
class Reset:
    uid: str
    token_hash: str


@dataclass(slots=True)
class CreateProduct:
    uid: str
    token_hash: str
    product_uid: str
    product_name: Any
    cost: Any
    amount: Any
    min_amount: int = 1


@dataclass(slots=True)
class UpdateProduct:
    """Change a product. `add_amount` restocks (seed protocol); `set_amount` sets the stock."""

    uid: str
    token_hash: str
    product_uid: str
    product_name: Any = None
    cost: Any = None
    add_amount: Any = None
    set_amount: Any = None


@dataclass(slots=True)
class DeleteProduct:
    uid: str
    token_hash: str
    product_uid: str


@dataclass(slots=True)
class Buy:
    uid: str
    token_hash: str
    product_uid: Any
    amount: Any


Command = (
    Register
    | Login
    | Logout
    | LogoutAll
    | ChangePassword
    | DeleteUser
    | Deposit
    | Reset
    | CreateProduct
    | UpdateProduct
    | DeleteProduct
    | Buy
)

COMMAND_TYPES: dict[str, type[Command]] = {
    "register": Register,
    "login": Login,
    "logout": Logout,
    "logout_all": LogoutAll,
    "change_password": ChangePassword,
    "delete_user": DeleteUser,
    "deposit": Deposit,
    "reset": Reset,
    "create_product": CreateProduct,
    "update_product": UpdateProduct,
    "delete_product": DeleteProduct,
    "buy": Buy,
}
"""Command class by kind, the name stored next to each queued request."""

KIND_OF: dict[type[Command], str] = {cls: kind for kind, cls in COMMAND_TYPES.items()}
