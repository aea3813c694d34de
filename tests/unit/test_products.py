"""Product field rules, restocking and purchases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vending.domain.errors import Code, DomainError
from vending.domain.products import (
    AMOUNT_MAX,
    COST_MAX,
    Product,
    check_buy_amount,
    check_cost,
    check_name,
    check_stock,
    purchase,
    require_owner,
    restock,
)


def product(cost: int = 35, amount: int = 10) -> Product:
    return Product("p1", "seller_sam", "Cola", cost, amount)


def code_of(call: object) -> Code:
    assert callable(call)
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


@pytest.mark.parametrize("name", ["C", "Cola", "x" * 64, 'Ünïcode "quoted"'])
def test_name_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, None, 5, ["Cola"]])
def test_name_rejected(name: object) -> None:
    assert code_of(lambda: check_name(name)) is Code.BAD_INPUT


@pytest.mark.parametrize("name", ["Co\x00la", "Cola\n", "\x1b[2J", "Cola\x7f", "Cola\x85"])
def test_name_with_control_character(name: str) -> None:
    with pytest.raises(DomainError) as raised:
        check_name(name)
    assert raised.value.code is Code.BAD_INPUT
    assert raised.value.detail == "product_name must not contain control characters"


@pytest.mark.parametrize("cost", [5, 35, COST_MAX])
def test_cost_accepted(cost: int) -> None:
    assert check_cost(cost) == cost


@pytest.mark.parametrize("cost", [0, -5, COST_MAX + 5, 5.0, "5", True, None])
def test_cost_invalid_is_bad_input(cost: object) -> None:
    assert code_of(lambda: check_cost(cost)) is Code.BAD_INPUT


@pytest.mark.parametrize("cost", [1, 7, 33, COST_MAX - 1])
def test_cost_not_multiple_of_5_is_wrong_cost(cost: int) -> None:
    assert code_of(lambda: check_cost(cost)) is Code.WRONG_COST


@pytest.mark.parametrize(("value", "minimum"), [(0, 0), (1, 1), (AMOUNT_MAX, 1)])
def test_stock_accepted(value: int, minimum: int) -> None:
    assert check_stock(value, minimum) == value


@pytest.mark.parametrize(
    ("value", "minimum"), [(0, 1), (-1, 0), (AMOUNT_MAX + 1, 0), (1.0, 0), ("1", 0), (False, 0)]
)
def test_stock_rejected(value: object, minimum: int) -> None:
    assert code_of(lambda: check_stock(value, minimum)) is Code.BAD_INPUT


@pytest.mark.parametrize("amount", [0, -1, 1.5, "2", True, None])
def test_buy_amount_rejected(amount: object) -> None:
    assert code_of(lambda: check_buy_amount(amount)) is Code.BAD_INPUT


def test_owner_check() -> None:
    require_owner(product(), "seller_sam")
    assert code_of(lambda: require_owner(product(), "seller_sue")) is Code.NOT_PRODUCT_OWNER


def test_restock_adds_and_caps() -> None:
    assert restock(product(amount=10), 5) == 15
    assert restock(product(amount=10), 0) == 10
    full = product(amount=AMOUNT_MAX)
    assert code_of(lambda: restock(full, 1)) is Code.BAD_INPUT


def test_purchase_returns_change_and_stock_left() -> None:
    sale = purchase(product(cost=35, amount=10), 2, 100)
    assert sale.spent == 70
    assert sale.change == [20, 10]
    assert sale.amount == 2
    assert sale.stock_left == 8


def test_purchase_exact_deposit_gives_no_change() -> None:
    sale = purchase(product(cost=35, amount=1), 1, 35)
    assert sale.change == []
    assert sale.stock_left == 0


def test_purchase_fault_order() -> None:
    sold_out = product(cost=35, amount=0)
    assert code_of(lambda: purchase(sold_out, 5, 0)) is Code.EMPTY_STOCK
    short = product(cost=35, amount=2)
    assert code_of(lambda: purchase(short, 3, 0)) is Code.INSUFFICIENT_STOCK
    assert code_of(lambda: purchase(short, 2, 65)) is Code.INSUFFICIENT_DEPOSIT


@settings(deadline=None)
@given(
    cost=st.integers(min_value=1, max_value=200).map(lambda n: n * 5),
    stock=st.integers(min_value=0, max_value=50),
    amount=st.integers(min_value=1, max_value=60),
    deposit=st.integers(min_value=0, max_value=2_000).map(lambda n: n * 5),
)
def test_purchase_is_all_or_nothing(cost: int, stock: int, amount: int, deposit: int) -> None:
    item = product(cost=cost, amount=stock)
    try:
        sale = purchase(item, amount, deposit)
    except DomainError as error:
        if stock == 0:
            assert error.code is Code.EMPTY_STOCK
        elif stock < amount:
            assert error.code is Code.INSUFFICIENT_STOCK
        else:
            assert error.code is Code.INSUFFICIENT_DEPOSIT
            assert cost * amount > deposit
        return
    assert sale.spent == cost * amount
    assert sale.spent + sum(sale.change) == deposit
    assert sale.stock_left == stock - amount
