"""The agents' record handlers over plain dicts (a faust table is a mapping to them)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.errors import PermanentGatewayError
from gateway.port import VaultedPaymentMethod
from schemas.codec import json_bytes
from schemas.dead_letter import DeadLetter
from schemas.orders import FulfillmentRequested, OrderAnomaly
from tables.model_table import ModelTable
from tables.order_record import Order
from tables.order_state import OrderState
from tables.wallet_state import AddMethod, DeleteMethod, UpdateMethod, Wallet

sys.path.insert(0, str(Path(__file__).parents[1] / "core"))
from core_factories import created, event, request, usd

from agents.fulfillment import FulfillmentHandler
from agents.orders import OrderEventHandler
from agents.wallets import WalletCommandHandler


class Recorder:
    def __init__(self) -> None:
        self.anomalies: list[OrderAnomaly] = []
        self.dead: list[DeadLetter] = []

    async def anomaly(self, a: OrderAnomaly) -> None:
        self.anomalies.append(a)

    async def dead_letter(self, d: DeadLetter, key: str | None) -> None:
        self.dead.append(d)


def order_handler() -> tuple[OrderEventHandler, dict[bytes, bytes], Recorder]:
    table: dict[bytes, bytes] = {}
    rec = Recorder()
    return OrderEventHandler(ModelTable(table, Order), rec.anomaly, rec.dead_letter), table, rec


async def test_order_handler_applies_out_of_order_and_ignores_duplicates() -> None:
    handler, table, rec = order_handler()
    deposited = event("deposited", 2, usd("100"), captured_amount=usd("100"))
    approved = event("approved", 1, usd("100"), authorized_amount=usd("100"))
    await handler.handle("order-created", b"order-1", json_bytes(created()))
    held = await handler.handle("payment-deposited", b"order-1", json_bytes(deposited))
    assert held is not None and held.state is OrderState.CREATED and held.pending
    order = await handler.handle("payment-approved", b"order-1", json_bytes(approved))
    assert order is not None and order.state is OrderState.PAID
    again = await handler.handle("payment-approved", b"order-1", json_bytes(approved))
    assert again == order
    assert len(ModelTable(table, Order).get("order-1").history) == 2  # type: ignore[union-attr]
    assert rec.anomalies == [] and rec.dead == []


async def test_order_handler_keeps_request_keys_with_registered_orders() -> None:
    handler, table, rec = order_handler()
    approve = request("approve", usd("100"), key="k-1", payment_method_nonce="fake-nonce",
                      payment_method_type="credit_card", request_fingerprint="f" * 64)
    # No registered order yet: nothing to keep the key in (the executor handles the rest).
    assert await handler.handle("payment-requests", b"order-1", json_bytes(approve)) is None
    await handler.handle("order-created", b"order-1", json_bytes(created()))
    order = await handler.handle("payment-requests", b"order-1", json_bytes(approve))
    assert order is not None and order.request_keys["k-1"].fingerprint == "f" * 64
    assert order.request_keys["k-1"].payment_id == approve.payment_id
    # Malformed requests are the executor's to dead-letter, not the order agent's.
    assert await handler.handle("payment-requests", b"order-1", b"{not json") is None
    assert rec.dead == []
    stored = ModelTable(table, Order).get("order-1")
    assert stored is not None and "k-1" in stored.request_keys


async def test_order_handler_publishes_anomalies_and_parks_garbage() -> None:
    handler, _, rec = order_handler()
    refund = event("refunded", 1, usd("5"))
    order = await handler.handle("payment-refunded", b"order-1", json_bytes(refund))
    assert order is not None and order.state is OrderState.CREATED
    assert [a.reason for a in rec.anomalies] == ["refunded while CREATED"]
    assert order.anomalies and order.anomalies[0].event_id == refund.event_id
    # Redelivery: recognised, not published twice.
    await handler.handle("payment-refunded", b"order-1", json_bytes(refund))
    assert len(rec.anomalies) == 1
    assert await handler.handle("payment-approved", b"order-2", b"{not json") is None
    assert [d.source for d in rec.dead] == ["payment-approved"]
    assert rec.dead[0].order_id == "order-2"


async def test_fulfillment_once_per_order() -> None:
    table: dict[bytes, bytes] = {}
    sent: list[FulfillmentRequested] = []

    async def publish(request: FulfillmentRequested) -> None:
        sent.append(request)

    handler = FulfillmentHandler(ModelTable(table, FulfillmentRequested), publish)
    # A capture short of the order's price (its authorization) ships nothing.
    partial = json_bytes(event("deposited", 2, usd("30"), captured_amount=usd("30"),
                               authorized_amount=usd("40")))
    assert await handler.handle(partial) is None and not sent
    deposited = json_bytes(event("deposited", 2, usd("40"), captured_amount=usd("40"),
                                 authorized_amount=usd("40")))
    first = await handler.handle(deposited)
    assert first is not None and first.captured_amount == usd("40")
    assert await handler.handle(deposited) is None
    assert await handler.handle(json_bytes(event("approved", 1, usd("40")))) is None
    assert len(sent) == 1 and b"order-1" in table


class FakeVault:
    def __init__(self) -> None:
        self.methods: dict[str, VaultedPaymentMethod] = {}
        self.customers: list[str] = []
        self.vault_calls = 0

    async def create_customer(self, *, customer_id: str, email: str | None = None) -> str:
        self.customers.append(customer_id)
        return customer_id

    async def vault_payment_method(self, *, customer_id: str, nonce: str,
                                   make_default: bool = False) -> VaultedPaymentMethod:
        self.vault_calls += 1
        if nonce == "bad":
            raise PermanentGatewayError("Unknown nonce", operation="vault")
        token = f"tok{len(self.methods) + 1}"
        self.methods[token] = VaultedPaymentMethod(
            token=token, customer_id=customer_id, type="credit_card",
            is_default=make_default or not self.methods, card_brand="Visa", last_4="1881",
            expiration_month="12", expiration_year="2030")
        return self.methods[token]

    async def update_payment_method(self, token: str, *, make_default: bool | None = None,
                                    expiration_month: str | None = None,
                                    expiration_year: str | None = None,
                                    billing_postal_code: str | None = None
                                    ) -> VaultedPaymentMethod:
        m = self.methods[token]
        self.methods[token] = replace(
            m, is_default=m.is_default if make_default is None else make_default,
            expiration_month=expiration_month or m.expiration_month,
            expiration_year=expiration_year or m.expiration_year)
        return self.methods[token]

    async def delete_payment_method(self, token: str) -> None:
        self.methods.pop(token, None)


async def test_wallet_commands_against_a_fake_vault() -> None:
    table: dict[bytes, bytes] = {}
    vault = FakeVault()
    handler = WalletCommandHandler(vault, ModelTable(table, Wallet),  # type: ignore[arg-type]
                                   clock=lambda: datetime(2025, 1, 1, tzinfo=UTC))

    def cmd(model: Any) -> bytes:
        return model.model_dump_json().encode()

    add = AddMethod(command_id="a1", customer_id="c1", nonce="fake-valid-visa-nonce")
    first = await handler.handle(cmd(add))
    assert first["status"] == 201 and first["body"]["token"] == "tok1"
    assert vault.customers == ["c1"]
    # A redelivered command is answered from the wallet, not vaulted again.
    assert await handler.handle(cmd(add)) == first and vault.vault_calls == 1

    refused = await handler.handle(cmd(AddMethod(command_id="a2", customer_id="c1",
                                                 nonce="bad")))
    assert refused["status"] == 422
    assert "bad" not in json.dumps(refused)

    upd = await handler.handle(cmd(UpdateMethod(command_id="u1", customer_id="c1",
                                                token="tok1", expiration_year="2031")))
    assert upd["status"] == 200 and upd["body"]["expiration_year"] == "2031"

    other = await handler.handle(cmd(DeleteMethod(command_id="d0", customer_id="c2",
                                                  token="tok1")))
    assert other["status"] == 404  # not this customer's token
    gone = await handler.handle(cmd(DeleteMethod(command_id="d1", customer_id="c1",
                                                 token="tok1")))
    assert gone["status"] == 204 and "tok1" not in vault.methods
    wallet = ModelTable(table, Wallet).get("c1")
    assert wallet is not None and wallet.methods == ()
    assert (await handler.handle(b"{}"))["status"] == 400
