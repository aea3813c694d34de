"""Request and response bodies of the REST API, as msgspec structs.

Request structs reject unknown fields, and their integer fields accept JSON integers only
(msgspec's strict mode rejects `5.0`, `"5"` and `true`). The same structs generate the OpenAPI
schemas, so the document and the validation cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from vending.domain.products import AMOUNT_MAX, COST_MAX, NAME_MAX_LENGTH, NAME_PATTERN
from vending.domain.users import PASSWORD_MAX_LENGTH, USERNAME_PATTERN

PRODUCT_ID_MAX_LENGTH = 64
LOGIN_USERNAME_MAX_LENGTH = 64

Username = Annotated[
    str,
    Meta(
        pattern=f"^{USERNAME_PATTERN.pattern}$",
        description="3 to 32 ASCII letters, digits, '_', '.' or '-'; case-sensitive",
    ),
]
Password = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=PASSWORD_MAX_LENGTH,
        description="the server's minimum length applies too (default 8)",
    ),
]
RoleName = Literal["buyer", "seller"]
ProductName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=f"^{NAME_PATTERN.pattern}$",
        description="no control characters",
    ),
]
Cost = Annotated[
    int, Meta(ge=5, le=COST_MAX, multiple_of=5, description="price of one item in cents")
]
Stock = Annotated[int, Meta(ge=0, le=AMOUNT_MAX, description="items in stock")]
BuyAmount = Annotated[int, Meta(ge=1, le=AMOUNT_MAX, description="items to buy")]
Coin = Annotated[Literal[5, 10, 20, 50, 100], Meta(description="one coin, in cents")]
Coins = Annotated[list[int], Meta(description="coins in cents, largest first")]
Cents = Annotated[int, Meta(ge=0, description="cents")]


class Request(Struct, forbid_unknown_fields=True):
    """Base of request bodies: an unknown field is a validation error."""


# ---------------------------------------------------------------- users and sessions


class UserCreate(Request):
    username: Username
    password: Password
    role: RoleName


class UserPublic(Struct):
    """An account. `id` is the uid, `<role>_<username>`; `deposit` is in cents."""

    id: str
    username: str
    role: RoleName
    deposit: Cents


class PasswordChange(Request):
    current_password: Password
    password: Password


class UserDeleted(Struct):
    """A deleted account and its remaining deposit, handed back as coins."""

    id: str
    change: Coins


class LoginRequest(Request):
    username: Annotated[str, Meta(max_length=LOGIN_USERNAME_MAX_LENGTH)]
    password: Password
    role: RoleName


class TokenPublic(Struct, omit_defaults=True):
    """A new bearer token. `message` is present when the account had another active session."""

    access_token: str
    token_type: Literal["bearer"]
    expires_at: datetime
    active_sessions: Annotated[int, Meta(ge=1)]
    message: str | None = None


class LogoutAllResult(Struct):
    ended: Annotated[int, Meta(ge=0, description="sessions ended")]


# ---------------------------------------------------------------- products


class ProductCreate(Request):
    product_name: ProductName
    cost: Cost
    amount_available: Stock


class ProductReplace(Request):
    product_name: ProductName
    cost: Cost
    amount_available: Stock


class ProductPatch(Request):
    product_name: ProductName | UnsetType = UNSET
    cost: Cost | UnsetType = UNSET
    amount_available: Stock | UnsetType = UNSET


class ProductPublic(Struct):
    """A product; `seller_id` is the uid of the seller who owns it."""

    id: str
    seller_id: str
    product_name: str
    cost: Cost
    amount_available: Stock


class ProductPage(Struct):
    """Products, oldest first; pass `next_cursor` as `cursor` for the next page (null: last)."""

    items: list[ProductPublic]
    next_cursor: str | None


# ---------------------------------------------------------------- money


class DepositRequest(Request):
    coin: Coin


class DepositResult(Struct):
    deposit: Cents


class BuyRequest(Request):
    product_id: Annotated[str, Meta(min_length=1, max_length=PRODUCT_ID_MAX_LENGTH)]
    amount: BuyAmount


class ProductSummary(Struct):
    id: str
    product_name: str
    cost: Cost


class BuyResult(Struct):
    """A purchase: what it cost, and the rest of the deposit handed back as coins."""

    spent: Cents
    product: ProductSummary
    amount: BuyAmount
    change: Coins
    deposit: Cents


class ResetResult(Struct):
    change: Coins
    deposit: Cents


# ---------------------------------------------------------------- requests and errors


class Problem(Struct, omit_defaults=True):
    """An error, as RFC 9457 `application/problem+json`.

    `code` is stable and shared with the seed protocol's status strings where one fits.
    `field` names the request field at fault, when there is one.
    """

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    req_id: str | None = None


class Accepted(Struct):
    """A request in a queue; follow the `Location` header (`/api/v1/requests/{req_id}`)."""

    req_id: str
    state: Literal["queued"]


class RequestStatus(Struct, omit_defaults=True):
    """The state of a request: `result` when done (the body the call itself would have
    returned), `error` when failed, neither while queued."""

    req_id: str
    state: Literal["queued", "done", "failed"]
    result: dict[str, Any] | None = None
    error: Problem | None = None


class Health(Struct):
    status: str


encode = msgspec.json.Encoder().encode
