"""Coins the machine accepts and the change it returns."""

from __future__ import annotations

from vending.domain.errors import Code, DomainError

COINS: tuple[int, ...] = (100, 50, 20, 10, 5)
"""Accepted coin values in cents, largest first."""


def check_coin(value: object) -> int:
    """Return `value` when it is one accepted coin; raise WRONG_AMOUNT otherwise."""
    if type(value) is not int or value not in COINS:
        raise DomainError(Code.WRONG_AMOUNT, "amount must be one coin: 5, 10, 20, 50 or 100 cents")
    return value


def change_for(cents: int) -> list[int]:
    """Return `cents` as the fewest coins, largest first.

    Every amount the machine stores is a sum of coins, so it is a multiple of 5. Because the coin
    values form a canonical system, taking the largest coin that fits is optimal.
    """
    if cents < 0 or cents % 5:
        raise ValueError(f"change must be a non-negative multiple of 5 cents, got {cents}")
    coins: list[int] = []
    for coin in COINS:
        count, cents = divmod(cents, coin)
        coins.extend([coin] * count)
    return coins
