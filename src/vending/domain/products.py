"""Products: field rules, stock changes and purchases."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vending.domain.coins import change_for
from vending.domain.errors import Code, DomainError

NAME_MAX_LENGTH = 64
NAME_PATTERN = re.compile(r"[^\x00-\x1f\x7f-\x9f]*")
"""A product name contains no control characters (Unicode category Cc): no NUL, newline or
terminal escape reaches the pages and logs that show it."""
COST_MAX = 1_000_000
AMOUNT_MAX = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Product:
    """A product in stock. `cost` is in cents; `amount` is the number of items available."""

    uid: str
    seller_uid: str
    product_name: str
    cost: int
    amount: int


@dataclass(frozen=True, slots=True)
class Purchase:
    """The outcome of a successful buy: what was spent and the coins handed back."""

    spent: int
    change: list[int]
    amount: int
    stock_left: int


def _is_int(value: object) -> bool:
    return type(value) is int


def check_name(value: object) -> str:
    """Return a product name of 1 to 64 characters and no control characters; raise BAD_INPUT
    otherwise."""
    if not isinstance(value, str) or not 1 <= len(value) <= NAME_MAX_LENGTH:
        raise DomainError(
            Code.BAD_INPUT, f"product_name must be a string of 1 to {NAME_MAX_LENGTH} characters"
        )
    if not NAME_PATTERN.fullmatch(value):
        raise DomainError(Code.BAD_INPUT, "product_name must not contain control characters")
    return value


def check_cost(value: object) -> int:
    """Return a cost in cents.

    Raise BAD_INPUT when it is not an integer in range, WRONG_COST when not a multiple of 5.
    """
    if not _is_int(value) or not 0 < value <= COST_MAX:  # type: ignore[operator]
        raise DomainError(Code.BAD_INPUT, f"cost must be an integer from 5 to {COST_MAX} cents")
    assert isinstance(value, int)
    if value % 5:
        raise DomainError(Code.WRONG_COST, "cost must be a multiple of 5 cents")
    return value


def check_stock(value: object, minimum: int, field: str = "amount") -> int:
    """Return a stock count within [minimum, 10^9]; raise BAD_INPUT otherwise."""
    if not _is_int(value) or not minimum <= value <= AMOUNT_MAX:  # type: ignore[operator]
        raise DomainError(
            Code.BAD_INPUT, f"{field} must be an integer from {minimum} to {AMOUNT_MAX}"
        )
    assert isinstance(value, int)
    return value


def check_buy_amount(value: object) -> int:
    """Return the number of items to buy (1 to 10^9); raise BAD_INPUT otherwise."""
    return check_stock(value, 1)


def require_owner(product: Product, seller_uid: str) -> None:
    """Raise NOT_PRODUCT_OWNER unless `seller_uid` owns `product`."""
    if product.seller_uid != seller_uid:
        raise DomainError(
            Code.NOT_PRODUCT_OWNER, "only the seller who owns a product may change it"
        )


def restock(product: Product, added: int) -> int:
    """Return the stock after adding `added` items; raise BAD_INPUT past the 10^9 limit."""
    total = product.amount + added
    if total > AMOUNT_MAX:
        raise DomainError(Code.BAD_INPUT, f"amount would bring the stock over {AMOUNT_MAX}")
    return total


def purchase(product: Product, amount: int, deposit: int) -> Purchase:
    """Buy `amount` items of `product` with `deposit` cents, all or nothing.

    Raise EMPTY_STOCK, INSUFFICIENT_STOCK or INSUFFICIENT_DEPOSIT, in that order. On success the
    whole remainder of the deposit comes back as change, so the buyer's deposit becomes 0.
    """
    if product.amount == 0:
        raise DomainError(Code.EMPTY_STOCK, "the product is sold out")
    if product.amount < amount:
        raise DomainError(
            Code.INSUFFICIENT_STOCK, f"only {product.amount} left, {amount} requested"
        )
    spent = product.cost * amount
    if spent > deposit:
        raise DomainError(
            Code.INSUFFICIENT_DEPOSIT, f"the purchase costs {spent} cents, the deposit is {deposit}"
        )
    return Purchase(
        spent=spent,
        change=change_for(deposit - spent),
        amount=amount,
        stock_left=product.amount - amount,
    )
