"""Failure codes shared by every protocol, and the exception that carries them."""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Stable failure codes. The seed protocol sends them verbatim as status strings."""

    BAD_INPUT = "BAD_INPUT"
    UNAUTHORIZED = "unauthorized"
    DUPLICATE_USERNAME = "DUPLICATE_USERNAME"
    INVALID_ROLE_USERNAME = "INVALID_ROLE_USERNAME"
    INVALID_PASSWORD = "INVALID_PASSWORD"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    DEPOSIT_BUYERS_ONLY = "DEPOSIT_BUYERS_ONLY"
    WRONG_AMOUNT = "WRONG_AMOUNT"
    SELL_SELLERS_ONLY = "SELL_SELLERS_ONLY"
    WRONG_COST = "WRONG_COST"
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    NOT_PRODUCT_OWNER = "NOT_PRODUCT_OWNER"
    BUY_BUYERS_ONLY = "BUY_BUYERS_ONLY"
    EMPTY_STOCK = "EMPTY_STOCK"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    INSUFFICIENT_DEPOSIT = "INSUFFICIENT_DEPOSIT"
    RESET_BUYERS_ONLY = "RESET_BUYERS_ONLY"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class DomainError(Exception):
    """A business rule rejected a request; `code` is stable, `detail` names the field and rule."""

    def __init__(self, code: Code, detail: str | None = None) -> None:
        super().__init__(detail or code.value)
        self.code = code
        self.detail = detail
