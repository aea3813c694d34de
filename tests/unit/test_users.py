"""Account rules: roles, uids, usernames and passwords."""

from __future__ import annotations

import pytest

from vending.domain.errors import Code, DomainError
from vending.domain.users import (
    Role,
    User,
    check_password,
    check_username,
    make_uid,
    parse_role,
    require_role,
)


def test_uid_is_role_and_username() -> None:
    assert make_uid(Role.BUYER, "bob") == "buyer_bob"
    assert make_uid(Role.SELLER, "bob") == "seller_bob"


@pytest.mark.parametrize("value", ["buyer", "seller"])
def test_parse_role_accepts_roles(value: str) -> None:
    assert parse_role(value).value == value


@pytest.mark.parametrize("value", ["Buyer", "admin", "", None, 1])
def test_parse_role_rejects_others(value: object) -> None:
    with pytest.raises(DomainError) as caught:
        parse_role(value)
    assert caught.value.code is Code.BAD_INPUT


@pytest.mark.parametrize("name", ["bob", "Bob", "a.b", "a_b", "a-b", "x" * 32, "007"])
def test_username_accepted(name: str) -> None:
    assert check_username(name) == name


FULL_WIDTH_BOB = "\uff42\uff4f\uff42"


@pytest.mark.parametrize(
    "name", ["", "ab", "x" * 33, "bob smith", "bób", "bob!", "bob\n", FULL_WIDTH_BOB, None, 123]
)
def test_username_rejected(name: object) -> None:
    with pytest.raises(DomainError) as caught:
        check_username(name)
    assert caught.value.code is Code.BAD_INPUT
    assert caught.value.detail is not None
    assert "username" in caught.value.detail


@pytest.mark.parametrize(("password", "minimum"), [("abc", 3), ("x" * 8, 8), ("x" * 128, 1)])
def test_password_accepted(password: str, minimum: int) -> None:
    assert check_password(password, minimum) == password


@pytest.mark.parametrize(
    ("password", "minimum"), [("ab", 3), ("", 1), ("x" * 7, 8), ("x" * 129, 1), (None, 1), (5, 1)]
)
def test_password_rejected(password: object, minimum: int) -> None:
    with pytest.raises(DomainError) as caught:
        check_password(password, minimum)
    assert caught.value.code is Code.BAD_INPUT
    assert caught.value.detail is not None
    assert "password" in caught.value.detail


def test_require_role_raises_given_code() -> None:
    seller = User("seller_sam", "sam", Role.SELLER, 0)
    require_role(seller, Role.SELLER, Code.SELL_SELLERS_ONLY)
    with pytest.raises(DomainError) as caught:
        require_role(seller, Role.BUYER, Code.BUY_BUYERS_ONLY)
    assert caught.value.code is Code.BUY_BUYERS_ONLY
