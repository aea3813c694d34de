"""Queue names and which queue carries each kind of request."""

from __future__ import annotations

AUTH = "auth.fifo"
DEPOSIT = "deposit.fifo"
POST = "post.fifo"
ALL = (AUTH, DEPOSIT, POST)

QUEUE_OF_KIND: dict[str, str] = {
    "register": AUTH,
    "login": AUTH,
    "logout": AUTH,
    "logout_all": AUTH,
    "change_password": AUTH,
    "delete_user": AUTH,
    "deposit": DEPOSIT,
    "reset": DEPOSIT,
    "create_product": POST,
    "update_product": POST,
    "delete_product": POST,
    "buy": POST,
}
