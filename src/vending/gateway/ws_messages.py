"""The messages a client sends on the WebSocket session, decoded and checked by msgspec.

Only the shape of a message is checked here: which fields it has and their JSON types. Values
that a business rule judges (a coin, a cost, an amount) pass through untyped, so that the
worker rejects them with the same code and in the same fault order as on every other protocol.
"""

from __future__ import annotations

from typing import Any

import msgspec

MAX_MESSAGE_BYTES = 16 * 1024


class Message(msgspec.Struct, tag_field="op", forbid_unknown_fields=True, kw_only=True):
    """A client message. `ref` is the client's correlation id, echoed back in every reply."""

    ref: str | int | None = None


class Auth(Message, tag="auth"):
    token: str


class Deposit(Message, tag="deposit"):
    coin: Any


class Buy(Message, tag="buy"):
    product_id: str
    amount: Any


class Reset(Message, tag="reset"):
    pass


class CreateProduct(Message, tag="create_product"):
    product_name: Any
    cost: Any
    amount_available: Any


class UpdateProduct(Message, tag="update_product"):
    """A change of the given fields of a product. A field left out keeps its value."""

    id: str
    product_name: Any = msgspec.UNSET
    cost: Any = msgspec.UNSET
    amount_available: Any = msgspec.UNSET


class DeleteProduct(Message, tag="delete_product"):
    id: str


class Logout(Message, tag="logout"):
    pass


class LogoutAll(Message, tag="logout_all"):
    pass


class DeleteUser(Message, tag="delete_user"):
    pass


class StatusQuery(Message, tag="status"):
    req_id: str


ClientMessage = (
    Auth
    | Deposit
    | Buy
    | Reset
    | CreateProduct
    | UpdateProduct
    | DeleteProduct
    | Logout
    | LogoutAll
    | DeleteUser
    | StatusQuery
)

OPS: tuple[str, ...] = tuple(
    str(cls.__struct_config__.tag)
    for cls in (
        Auth,
        Deposit,
        Buy,
        Reset,
        CreateProduct,
        UpdateProduct,
        DeleteProduct,
        Logout,
        LogoutAll,
        DeleteUser,
        StatusQuery,
    )
)

_decode = msgspec.json.Decoder(ClientMessage).decode
_decode_any = msgspec.json.Decoder().decode


class BadMessage(Exception):
    """A message that cannot be decoded. `detail` names the fault, and `ref` is the message's
    own `ref` when it has a valid one."""

    def __init__(self, detail: str, ref: object = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.ref = ref if isinstance(ref, str | int) and not isinstance(ref, bool) else None


def decode(text: str) -> ClientMessage:
    """Decode one client message, or raise BadMessage naming the fault."""
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        return _decode(text)
    except msgspec.ValidationError as exc:
        raise _explain(text, exc) from None
    except msgspec.DecodeError as exc:
        raise BadMessage(f"message is not valid JSON: {exc}") from None
    except RecursionError:
        # The untyped fields (`coin`, `amount`, ...) decode nested values recursively.
        raise BadMessage("message is not valid JSON: nested too deeply") from None


def _explain(text: str, exc: msgspec.ValidationError) -> BadMessage:
    """Return a BadMessage for JSON that is not a valid message, naming the op or field."""
    try:
        raw = _decode_any(text)
    except (msgspec.DecodeError, RecursionError):
        # Untyped decoding fails too, on a number out of range or on deep nesting.
        return BadMessage(f"invalid message: {exc}")
    if not isinstance(raw, dict):
        return BadMessage("message must be a JSON object")
    ref = raw.get("ref")
    op = raw.get("op")
    if "op" not in raw:
        return BadMessage(f"message has no 'op'; expected one of: {', '.join(OPS)}", ref)
    if op not in OPS:
        return BadMessage(f"unknown op {op!r}; expected one of: {', '.join(OPS)}", ref)
    return BadMessage(f"invalid {op} message: {exc}", ref)
