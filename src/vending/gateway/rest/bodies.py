"""Decoding request bodies, with the rule of each field in words for 422 problems.

msgspec's own messages show a regex or `length >= 1`. A problem states the field's rule instead,
in the words the domain uses, so that a person can fix the value from the message alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from vending.domain.products import AMOUNT_MAX, COST_MAX, NAME_MAX_LENGTH
from vending.domain.users import PASSWORD_MAX_LENGTH, USERNAME_RULE, password_rule
from vending.gateway.rest import schemas as s
from vending.gateway.rest.schemas import LOGIN_USERNAME_MAX_LENGTH, PRODUCT_ID_MAX_LENGTH


def body_rules(password_min_length: int) -> dict[str, str]:
    """Return the rule of every request body field, for a server with that password minimum."""
    return {
        "username": USERNAME_RULE,
        "password": password_rule(password_min_length),
        "current_password": (
            f"current_password must be 1 to {PASSWORD_MAX_LENGTH} characters long"
        ),
        "role": "role must be 'buyer' or 'seller'",
        "product_name": (
            f"product_name must be 1 to {NAME_MAX_LENGTH} characters, with no control characters"
        ),
        "cost": f"cost must be a whole number of cents from 5 to {COST_MAX}, a multiple of 5",
        "amount_available": f"amount_available must be an integer from 0 to {AMOUNT_MAX}",
        "amount": f"amount must be an integer from 1 to {AMOUNT_MAX}",
        "coin": "coin must be one coin, in cents: 5, 10, 20, 50 or 100",
        "product_id": (
            f"product_id must be the id of a product, 1 to {PRODUCT_ID_MAX_LENGTH} characters"
        ),
    }


LOGIN_RULES = {
    # A login checks no username pattern or password minimum: any mismatch is a wrong
    # credential (401), so that an old account still logs in after the rules change.
    "username": f"username must be at most {LOGIN_USERNAME_MAX_LENGTH} characters",
    "password": f"password must be 1 to {PASSWORD_MAX_LENGTH} characters long",
}


class BodyDecoder:
    """Decoder of one request body struct. `decode` raises msgspec's ValidationError for a
    broken rule, and `rules` contains the words of each field's rule for the problem."""

    def __init__(self, struct: type[Any], rules: Mapping[str, str]) -> None:
        self.decode = msgspec.json.Decoder(struct).decode
        self.fields: tuple[str, ...] = struct.__struct_fields__
        self.rules = {name: rule for name, rule in rules.items() if name in self.fields}


def body_decoders(password_min_length: int) -> dict[type[s.Request], BodyDecoder]:
    """Return a decoder for each request body struct of the API."""
    rules = body_rules(password_min_length)
    structs: tuple[type[s.Request], ...] = (
        s.UserCreate,
        s.PasswordChange,
        s.ProductCreate,
        s.ProductReplace,
        s.ProductPatch,
        s.DepositRequest,
        s.BuyRequest,
    )
    decoders: dict[type[s.Request], BodyDecoder] = {
        struct: BodyDecoder(struct, rules) for struct in structs
    }
    decoders[s.LoginRequest] = BodyDecoder(s.LoginRequest, {**rules, **LOGIN_RULES})
    return decoders
