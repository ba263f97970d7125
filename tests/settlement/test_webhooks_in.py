"""Webhooks in: the edge verifies the simulator's signed notifications with the SDK, answers
fast, hands one GatewayNotification on; the order folds each one once, in any order."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import braintree
import pytest
from braintree.test.credit_card_numbers import CreditCardNumbers
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_edge.problems import install_problem_handlers
from api_edge.settings import EdgeSettings
from api_edge.webhooks import WEBHOOK_PATH, install_webhooks
from gateway.notifications import InvalidNotification, NotificationParser, to_notification
from gateway.simulator.runner import SimulatorHandle, run_simulator
from schemas.money import Money
from schemas.notifications import GatewayNotification
from schemas.outcomes import outcome_adapter
from tables.after_capture import apply_notification
from tables.order_lifecycle import apply_outcome, order_view
from tables.order_record import Order, new_order


class Receiver:
    """Collects the simulator's webhook posts (the form fields as sent)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.posts.append(dict(urllib.parse.parse_qsl(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def take(self, n: int, timeout: float = 10.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while len(self.posts) < n:
            assert time.monotonic() < deadline, f"{len(self.posts)} of {n} webhooks arrived"
            time.sleep(0.05)
        taken, self.posts = self.posts[:n], self.posts[n:]
        return taken


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator() as handle:
        yield handle


@pytest.fixture
def receiver(sim: SimulatorHandle) -> Iterator[Receiver]:
    r = Receiver()
    sim.configure(webhook_url=r.url, webhook_backoff_seconds=0.05)
    yield r
    sim.configure(webhook_url=None)
    r.server.shutdown()


@pytest.fixture
def edge(sim: SimulatorHandle) -> Iterator[tuple[TestClient, list[GatewayNotification]]]:
    produced: list[GatewayNotification] = []

    async def sink(note: GatewayNotification) -> None:
        produced.append(note)

    app = FastAPI()
    install_problem_handlers(app)
    install_webhooks(app, EdgeSettings(), parser=NotificationParser(sim.gateway_settings()),
                     sink=sink)
    with TestClient(app) as client:
        yield client, produced


def sale(sim: SimulatorHandle, order_id: str, amount: str = "10.00",
         number: str = "4111111111111111") -> braintree.Transaction:
    return sim.sdk().transaction.sale({
        "amount": amount, "order_id": order_id, "options": {"submit_for_settlement": True},
        "credit_card": {"number": number, "expiration_date": "05/2030"}}).transaction


def paid_order(order_id: str, transaction_id: str, amount: str) -> Order:
    """An order as the order agent has it after authorize and capture of `transaction_id`."""
    order = new_order(order_id, "cust-1", datetime(2024, 1, 1, tzinfo=UTC))
    for seq, (kind, request_kind) in enumerate(
            [("payment-approved", "approve"), ("payment-deposited", "deposit")], start=1):
        event = outcome_adapter.validate_python({
            "event_id": f"ev-{seq}", "event_type": kind, "order_id": order_id,
            "customer_id": "cust-1", "payment_id": f"p{seq}", "idempotency_key": f"k{seq}",
            "request_kind": request_kind, "sequence": seq, "transaction_id": transaction_id,
            "amount": Money.of(amount, "USD"), "authorized_amount": Money.of(amount, "USD"),
            "captured_amount": Money.of(amount, "USD") if seq == 2 else None,
            "correlation_id": "c", "occurred_at": datetime(2024, 1, 1, tzinfo=UTC)})
        order = apply_outcome(order, event).order
    return order


def post(client: TestClient, form: dict[str, str]) -> Any:
    return client.post(WEBHOOK_PATH, content=urllib.parse.urlencode(form),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_valid_notification_is_verified_parsed_and_handed_on(
        sim: SimulatorHandle, receiver: Receiver,
        edge: tuple[TestClient, list[GatewayNotification]]) -> None:
    client, produced = edge
    txn = sale(sim, "ord-settle-1")
    sim.settle(txn.id)
    (form,) = receiver.take(1)
    answer = post(client, form)
    assert answer.status_code == 200, answer.text
    (note,) = produced
    assert answer.json()["notification_id"] == note.notification_id
    assert (note.kind, note.order_id, note.transaction_id) == (
        "transaction_settled", "ord-settle-1", txn.id)
    assert note.amount == Money.of("10.00", "USD") and note.transaction_type == "sale"
    assert note.partition_key == "ord-settle-1"


def test_tampered_or_foreign_notifications_are_refused(
        sim: SimulatorHandle, receiver: Receiver,
        edge: tuple[TestClient, list[GatewayNotification]]) -> None:
    client, produced = edge
    sim.settle(sale(sim, "ord-tamper-1").id)
    (form,) = receiver.take(1)
    payload = form["bt_payload"]
    flipped = ("B" if payload[10] == "A" else "A")
    tampered = {**form, "bt_payload": payload[:10] + flipped + payload[11:]}
    answer = post(client, tampered)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    other_key = {**form, "bt_signature": "someone_else|" + form["bt_signature"].split("|")[1]}
    assert post(client, other_key).status_code == 403
    assert post(client, {"bt_payload": payload}).status_code == 400
    assert produced == []


def test_a_replayed_notification_changes_nothing_twice(
        sim: SimulatorHandle, receiver: Receiver,
        edge: tuple[TestClient, list[GatewayNotification]]) -> None:
    client, produced = edge
    txn = sale(sim, "ord-replay-1", "25.00")
    sim.settle(txn.id)
    (form,) = receiver.take(1)
    assert post(client, form).status_code == 200
    assert post(client, form).status_code == 200
    first, again = produced
    assert first.notification_id == again.notification_id
    order = paid_order("ord-replay-1", txn.id, "25.00")
    once, _ = apply_notification(order, first)
    assert once.after_capture.settled
    twice, change = apply_notification(once, again)
    assert twice is once and change is None


def test_settlement_declined_and_a_dispute_opened_then_lost(
        sim: SimulatorHandle, receiver: Receiver,
        edge: tuple[TestClient, list[GatewayNotification]]) -> None:
    client, produced = edge
    declined = sale(sim, "ord-declined-1", "4001.00")
    sim.sdk().testing.settlement_decline_transaction(declined.id)
    disputed = sale(sim, "ord-dispute-1", "83.00", CreditCardNumbers.Disputes.Chargeback)
    sim.settle(disputed.id)
    forms = receiver.take(3)  # settlement declined, settled, dispute opened
    for form in forms:
        assert post(client, form).status_code == 200
    by_kind = {n.kind: n for n in produced}
    order = paid_order("ord-declined-1", declined.id, "4001.00")
    order, _ = apply_notification(order, by_kind["transaction_settlement_declined"])
    assert order.after_capture.settlement_declined and not order.after_capture.settled

    order = paid_order("ord-dispute-1", disputed.id, "83.00")
    order, _ = apply_notification(order, by_kind["transaction_settled"])
    opened = by_kind["dispute_opened"]
    order, change = apply_notification(order, opened)
    assert change is not None and change.dispute.state == "open"
    assert order.after_capture.open_dispute
    bt = sim.sdk()
    bt.dispute.add_text_evidence(opened.dispute_id, "losing_evidence")
    bt.dispute.finalize(opened.dispute_id)
    for form in receiver.take(2):  # disputed, lost
        assert post(client, form).status_code == 200
    lost = next(n for n in produced if n.kind == "dispute_lost")
    disputed_note = next(n for n in produced if n.kind == "dispute_disputed")
    order, change = apply_notification(order, lost)
    assert change is not None and change.dispute.state == "lost"
    assert change.dispute.chargeback_amount == Money.of("83.00", "USD")
    # The older "disputed" notice arriving late does not reopen a lost dispute.
    late, change = apply_notification(order, disputed_note)
    assert change is None and late.after_capture.disputes[0].state == "lost"
    view = order_view(late)
    assert view["disputes"][0]["state"] == "lost"  # type: ignore[index]
    assert view["settlement"]["settled"] is True  # type: ignore[index]


def _disbursement(amount: str) -> Any:
    return SimpleNamespace(
        kind="disbursement", timestamp=datetime(2025, 3, 1, tzinfo=UTC),
        disbursement=SimpleNamespace(
            id="disb-1", amount=amount,
            merchant_account=SimpleNamespace(currency_iso_code="USD")))


def test_a_negative_disbursement_is_a_debit_and_an_unusable_one_a_clear_400() -> None:
    """A disbursement nets sales against refunds and chargebacks: it can be negative.
    Seen in a chaos run, where the edge answered such a webhook with a 500 and a traceback,
    and the simulator's retries then took the edge's CPU for most of a minute."""
    debit = to_notification(_disbursement("-255.94"), datetime.now(UTC))
    assert debit.disbursement_debit and debit.amount == Money.of("255.94", "USD")
    credit = to_notification(_disbursement("100.00"), datetime.now(UTC))
    assert not credit.disbursement_debit and credit.amount == Money.of("100.00", "USD")

    class Sdk:
        class webhook_notification:  # the SDK's attribute name
            @staticmethod
            def parse(signature: str, payload: str) -> Any:
                return _disbursement("not a number")

    parser = NotificationParser.__new__(NotificationParser)
    parser._sdk = Sdk()  # type: ignore[assignment]
    with pytest.raises(InvalidNotification) as refused:
        parser.parse("sig", "payload")
    assert not refused.value.forged
