"""Coins the machine accepts and the change it returns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vending.domain.coins import COINS, change_for, check_coin
from vending.domain.errors import Code, DomainError


def fewest_coins(cents: int) -> int:
    """Return the minimum number of coins summing to `cents`, by dynamic programming."""
    unreachable = cents + 1
    best = [0] + [unreachable] * cents
    for total in range(1, cents + 1):
        for coin in COINS:
            if coin <= total and best[total - coin] + 1 < best[total]:
                best[total] = best[total - coin] + 1
    return best[cents]


@pytest.mark.parametrize("coin", [5, 10, 20, 50, 100])
def test_check_coin_accepts_each_coin(coin: int) -> None:
    assert check_coin(coin) == coin


@pytest.mark.parametrize("value", [0, 1, 25, 200, -5, 5.0, "5", True, None, [5]])
def test_check_coin_rejects_other_values(value: object) -> None:
    with pytest.raises(DomainError) as caught:
        check_coin(value)
    assert caught.value.code is Code.WRONG_AMOUNT
    assert caught.value.detail is not None
    assert "amount" in caught.value.detail


@pytest.mark.parametrize(
    ("cents", "coins"),
    [
        (0, []),
        (5, [5]),
        (15, [10, 5]),
        (35, [20, 10, 5]),
        (95, [50, 20, 20, 5]),
        (185, [100, 50, 20, 10, 5]),
        (400, [100, 100, 100, 100]),
    ],
)
def test_change_for_known_amounts(cents: int, coins: list[int]) -> None:
    assert change_for(cents) == coins


@pytest.mark.parametrize("cents", [-5, 1, 7, 103])
def test_change_for_rejects_impossible_amounts(cents: int) -> None:
    with pytest.raises(ValueError, match="multiple of 5"):
        change_for(cents)


@settings(deadline=None, max_examples=300)
@given(st.integers(min_value=0, max_value=2_000).map(lambda n: n * 5))
def test_change_is_fewest_coins(cents: int) -> None:
    coins = change_for(cents)

    assert sum(coins) == cents
    assert len(coins) == fewest_coins(cents)
    assert all(coin in COINS for coin in coins)
    assert coins == sorted(coins, reverse=True)


@settings(deadline=None)
@given(
    st.lists(st.sampled_from(COINS), max_size=30),
    st.integers(min_value=1, max_value=200).map(lambda n: n * 5),
)
def test_change_returns_deposit_minus_spent(deposit_coins: list[int], spent: int) -> None:
    deposit = sum(deposit_coins)
    if spent > deposit:
        spent = deposit
    change = change_for(deposit - spent)

    assert sum(change) + spent == deposit
    assert len(change) == fewest_coins(deposit - spent)
