"""The WebSocket session at /ws, through Starlette's TestClient on the embedded app."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.e2e.ws_client import authenticate, of_type, receive_until, request, sign_up
from tests.ledger import execute
from vending.gateway import ws as ws_module
from vending.runtime import embedded_app
from vending.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(embedded_app(settings)) as test_client:
        yield test_client


def test_deposit_accepted_then_status(client: TestClient) -> None:
    token = sign_up(client, "buyer", "bob")
    with client.websocket_connect("/ws") as ws:
        welcome = authenticate(ws, token)
        assert welcome["user"] == {
            "id": "buyer_bob",
            "username": "bob",
            "role": "buyer",
            "deposit": 0,
        }

        status = request(ws, "r1", op="deposit", coin=50)
        assert status["state"] == "done"
        assert status["op"] == "deposit"
        assert status["result"] == {"deposit": 50}

        status = request(ws, "r2", op="deposit", coin=20)
        assert status["result"] == {"deposit": 70}


def test_balance_reaches_every_page_of_account(client: TestClient) -> None:
    token = sign_up(client, "buyer", "bea")
    with client.websocket_connect("/ws") as first, client.websocket_connect("/ws") as second:
        authenticate(first, token)
        authenticate(second, token)
        request(first, "d", op="deposit", coin=100)
        assert receive_until(second, of_type("balance"))[-1]["deposit"] == 100


def test_buy_pushes_stock_and_sale(client: TestClient) -> None:
    seller_token = sign_up(client, "seller", "sally")
    buyer_token = sign_up(client, "buyer", "ben")
    with client.websocket_connect("/ws") as seller, client.websocket_connect("/ws") as buyer:
        authenticate(seller, seller_token)
        authenticate(buyer, buyer_token)

        created = request(
            seller, "c", op="create_product", product_name="Cola", cost=35, amount_available=10
        )
        product = created["result"]
        assert product["seller_id"] == "seller_sally"
        assert product["product_name"] == "Cola"
        assert product["amount_available"] == 10
        pushed = receive_until(buyer, of_type("product"))[-1]
        assert pushed["product"] == product

        for coin in (100, 20):
            request(buyer, f"coin-{coin}", op="deposit", coin=coin)
        bought = request(buyer, "b", op="buy", product_id=product["id"], amount=3)
        assert bought["state"] == "done"
        assert bought["result"] == {
            "spent": 105,
            "change": [10, 5],
            "amount": 3,
            "product": {"id": product["id"], "product_name": "Cola", "cost": 35},
            "deposit": 0,
        }

        sale = receive_until(seller, of_type("sale"))[-1]
        assert sale["product"]["product_name"] == "Cola"
        assert sale["amount"] == 3
        assert sale["spent"] == 105
        assert sale["amount_available"] == 7
        stock = receive_until(buyer, of_type("product"))[-1]
        assert stock["product"]["amount_available"] == 7


def test_update_and_delete_product_pushed(client: TestClient) -> None:
    token = sign_up(client, "seller", "sam")
    with client.websocket_connect("/ws") as ws:
        authenticate(ws, token)
        product = request(
            ws, "c", op="create_product", product_name="Gum", cost=15, amount_available=5
        )["result"]

        updated = request(
            ws, "u", op="update_product", id=product["id"], cost=20, amount_available=2
        )
        assert updated["result"]["cost"] == 20
        assert updated["result"]["amount_available"] == 2
        assert updated["result"]["product_name"] == "Gum"

        deleted = request(ws, "d", op="delete_product", id=product["id"])
        assert deleted["state"] == "done"
        assert deleted["result"] is None
        deletion = receive_until(ws, of_type("product_deleted"))[-1]
        assert deletion["id"] == product["id"]


def test_failed_request_has_code_and_detail(client: TestClient) -> None:
    seller_token = sign_up(client, "seller", "sid")
    buyer_token = sign_up(client, "buyer", "boris")
    with client.websocket_connect("/ws") as seller, client.websocket_connect("/ws") as buyer:
        authenticate(seller, seller_token)
        authenticate(buyer, buyer_token)

        wrong_role = request(seller, "s", op="deposit", coin=50)
        assert wrong_role["state"] == "failed"
        assert wrong_role["error"]["code"] == "DEPOSIT_BUYERS_ONLY"

        wrong_coin = request(buyer, "w", op="deposit", coin=7)
        assert wrong_coin["error"]["code"] == "WRONG_AMOUNT"
        assert "5, 10, 20, 50 or 100" in wrong_coin["error"]["detail"]

        product = request(
            seller, "c", op="create_product", product_name="Tea", cost=100, amount_available=1
        )["result"]
        short = request(buyer, "b", op="buy", product_id=product["id"], amount=1)
        assert short["error"]["code"] == "INSUFFICIENT_DEPOSIT"
        assert short["error"]["status"] == 409
        assert short["error"]["detail"] == "the purchase costs 100 cents, the deposit is 0"

        missing = request(buyer, "m", op="buy", product_id="no-such-product", amount=1)
        assert missing["error"]["code"] == "PRODUCT_NOT_FOUND"


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"coin": 5}', "no 'op'"),
        ('{"op": "fly"}', "unknown op 'fly'"),
        ('{"op": "deposit"}', "`coin`"),
        ('{"op": "deposit", "coin": 5, "color": "red"}', "`color`"),
        ('{"op": "buy", "product_id": 7, "amount": 1}', "product_id"),
        ('{"op": "update_product", "id": "x"}', "product_name, cost or amount_available"),
        ('{"op": "update_product", "id": "x", "cost": null}', "cost must not be null"),
        ('{"op": "deposit", "coin": 1e400}', "Number out of range"),
        ('{"op": "deposit", "coin": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
        ('{"op": "fly", "x": ' + "[" * 5000 + "]" * 5000 + "}", "invalid message"),
        ("[" * 5000 + "]" * 5000, "Expected `object`, got `array`"),
    ],
)
def test_bad_message_named_and_connection_kept(client: TestClient, text: str, fault: str) -> None:
    token = sign_up(client, "buyer", "bill")
    with client.websocket_connect("/ws") as ws:
        authenticate(ws, token)
        ws.send_text(text)
        error = ws.receive_json()
        assert error["type"] == "error"
        assert error["error"]["code"] == "BAD_MESSAGE"
        assert fault in error["error"]["detail"]

        assert request(ws, "after", op="deposit", coin=5)["state"] == "done"


def test_binary_and_oversized_rejected(client: TestClient) -> None:
    token = sign_up(client, "buyer", "bruno")
    with client.websocket_connect("/ws") as ws:
        authenticate(ws, token)
        ws.send_bytes(b'{"op": "reset"}')
        assert "text frames" in ws.receive_json()["error"]["detail"]

        ws.send_text('{"op": "reset", "ref": "' + "x" * 17_000 + '"}')
        assert "larger than 16384 bytes" in ws.receive_json()["error"]["detail"]

        ws.send_json({"op": "auth", "token": token})
        assert "already signed in" in ws.receive_json()["error"]["detail"]


def test_silent_connection_closed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_module, "AUTH_TIMEOUT_SECONDS", 0.2)
    with client.websocket_connect("/ws") as ws:
        error = ws.receive_json()
        assert error["error"]["code"] == "UNAUTHORIZED"
        assert "no auth message within 0.2 s" in error["error"]["detail"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4001


def test_bad_message_echoes_ref(client: TestClient) -> None:
    token = sign_up(client, "buyer", "bert")
    with client.websocket_connect("/ws") as ws:
        authenticate(ws, token)
        ws.send_json({"op": "deposit", "ref": "x1"})
        error = ws.receive_json()
        assert error["ref"] == "x1"


def test_request_before_auth_rejected(client: TestClient) -> None:
    token = sign_up(client, "buyer", "ann")
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"op": "deposit", "coin": 5, "ref": "early"})
        error = ws.receive_json()
        assert error["type"] == "error"
        assert error["ref"] == "early"
        assert error["error"]["code"] == "UNAUTHORIZED"

        ws.send_json({"op": "auth", "token": "not-a-token"})
        error = ws.receive_json()
        assert error["error"]["code"] == "UNAUTHORIZED"
        assert "not-a-token" not in error["error"]["detail"]

        authenticate(ws, token)
        assert request(ws, "r", op="deposit", coin=10)["result"] == {"deposit": 10}


def test_status_lookup_only_own(client: TestClient) -> None:
    alice = sign_up(client, "buyer", "alice")
    eve = sign_up(client, "buyer", "eve")
    with client.websocket_connect("/ws") as ws:
        authenticate(ws, alice)
        req_id = request(ws, "d", op="deposit", coin=50)["req_id"]

    with client.websocket_connect("/ws") as again:
        authenticate(again, alice)
        again.send_json({"op": "status", "req_id": req_id, "ref": "q"})
        status = again.receive_json()
        assert status == {
            "type": "status",
            "ref": "q",
            "op": "deposit",
            "req_id": req_id,
            "state": "done",
            "result": {"deposit": 50},
        }

    with client.websocket_connect("/ws") as other:
        authenticate(other, eve)
        other.send_json({"op": "status", "req_id": req_id})
        error = other.receive_json()
        assert error["type"] == "error"
        assert error["error"]["code"] == "NOT_FOUND"


def test_logout_ends_session(client: TestClient) -> None:
    token = sign_up(client, "buyer", "lou")
    with client.websocket_connect("/ws") as ws, client.websocket_connect("/ws") as other:
        authenticate(ws, token)
        authenticate(other, token)
        status = request(ws, "bye", op="logout")
        assert status["state"] == "done"
        assert receive_until(other, of_type("signed_out"))
        with pytest.raises(WebSocketDisconnect) as closed:
            other.receive_json()
        assert closed.value.code == 4001

    with client.websocket_connect("/ws") as later:
        later.send_json({"op": "auth", "token": token})
        assert later.receive_json()["error"]["code"] == "UNAUTHORIZED"


def test_expired_token_signs_out(settings: Settings) -> None:
    settings.token_ttl_seconds = 1
    with TestClient(embedded_app(settings)) as client:
        token = sign_up(client, "buyer", "edna")
        with client.websocket_connect("/ws") as ws:
            authenticate(ws, token)
            time.sleep(1.2)
            ws.send_json({"op": "status", "req_id": "after-expiry"})

            signed_out = ws.receive_json()
            assert signed_out["type"] == "signed_out"
            assert signed_out["detail"] == "the token has expired; sign in again"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4001


def test_queued_status_pushed_later(client: TestClient, settings: Settings) -> None:
    token = sign_up(client, "buyer", "quinn")
    waker = sign_up(client, "buyer", "walt")

    # Leave a gap in quinn's sequence, so that quinn's next request waits in its queue.
    execute(
        settings.database,
        "UPDATE order_keys SET next_seq = next_seq + 1 WHERE okey = 'buyer_quinn'",
    )
    with client.websocket_connect("/ws") as ws:
        authenticate(ws, token)
        ws.send_json({"op": "deposit", "coin": 20, "ref": "held"})
        accepted = ws.receive_json()
        assert accepted["type"] == "accepted"
    req_id = accepted["req_id"]

    with client.websocket_connect("/ws") as again, client.websocket_connect("/ws") as other:
        authenticate(again, token)
        again.send_json({"op": "status", "req_id": req_id, "ref": "q"})
        assert again.receive_json() == {
            "type": "status",
            "ref": "q",
            "req_id": req_id,
            "state": "queued",
        }

        # Close the gap; walt's deposit wakes the worker of deposit.fifo.
        execute(
            settings.database,
            "UPDATE order_keys SET done_seq = done_seq + 1 WHERE okey = 'buyer_quinn'",
        )
        authenticate(other, waker)
        request(other, "wake", op="deposit", coin=5)

        status = receive_until(again, of_type("status", ref="q"))[-1]
        assert status["state"] == "done"
        assert status["result"] == {"deposit": 20}
