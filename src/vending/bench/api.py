"""The operations the benchmark needs from a protocol, and the types they share.

`vending.bench.seed` and `vending.bench.rest` implement `Api` for the seed protocol and the REST
API v1. The workload in `vending.bench.load` uses only this interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from vending.bench.client import Connection

Role = Literal["buyer", "seller"]


@dataclass(slots=True)
class User:
    """An account the driver signed up, with its keep-alive connection and credentials.

    The seed protocol uses both `wsess_id` and `token`; the REST API uses `token` as the bearer
    token and leaves `wsess_id` empty.
    """

    username: str
    connection: Connection
    wsess_id: str = ""
    token: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The final status of one deposit or buy, or its loss.

    `started` and `finished` are `time.perf_counter()` values: the submit, and the moment the
    final status arrived (or the operation was given up as lost). `code` is the failure code of a
    failed operation. `items` is the number of items a successful buy bought.
    """

    status: Literal["success", "failed", "lost"]
    started: float
    finished: float
    code: str = ""
    items: int = 0


class SetupError(Exception):
    """The seller, its products or the buyers could not be created."""


class UnexpectedResponse(Exception):
    """The server sent a response that the protocol does not define for this call."""


class Api(Protocol):
    """The calls of one protocol; each uses the user's own connection.

    Every method raises `vending.bench.client.HttpError` when the transport fails. For a
    response they cannot read, `sign_up` and `create_product` raise SetupError and the other
    methods raise UnexpectedResponse.
    """

    async def sign_up(self, user: User, role: Role, password: str) -> None:
        """Create the account and sign it in, storing its credentials in `user`."""
        ...

    async def create_product(self, seller: User, name: str, cost: int, stock: int) -> str:
        """Create a product and return its id; raise SetupError when that fails."""
        ...

    async def deposit(self, buyer: User, coin: int) -> Outcome:
        """Insert one coin (cents) and wait for the request's final status."""
        ...

    async def buy(self, buyer: User, product_id: str) -> Outcome:
        """Buy one item of `product_id` and wait for the request's final status."""
        ...

    async def read_deposit(self, buyer: User) -> int:
        """Return the buyer's deposit in cents as the server stores it."""
        ...

    async def read_stock(self, seller: User, product_ids: Sequence[str]) -> dict[str, int]:
        """Return the items in stock of each of the seller's `product_ids`."""
        ...
