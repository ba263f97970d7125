"""Conformance: the simulator's webhooks are signed notifications the real SDK parses
(`webhook_notification.parse`), delivered form-encoded with retries and back-off."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import braintree
import pytest
from braintree.exceptions.invalid_signature_error import InvalidSignatureError
from braintree.test.credit_card_numbers import CreditCardNumbers

from gateway.simulator.config import SimulatorConfig
from gateway.simulator.runner import SimulatorHandle, run_simulator

Kind = braintree.WebhookNotification.Kind


class Receiver:
    """A merchant endpoint: records form posts; answers `fail_first` of them with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[dict[str, str]] = []
        self.content_types: list[str] = []
        self.fail_first = fail_first
        self.calls = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.calls += 1
                if receiver.calls <= receiver.fail_first:
                    self.send_response(500)
                else:
                    form = dict(urllib.parse.parse_qsl(body))
                    receiver.posts.append(form)
                    receiver.content_types.append(self.headers["Content-Type"])
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/braintree"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while len(self.posts) < n:
            assert time.monotonic() < deadline, f"{len(self.posts)} of {n} webhooks arrived"
            time.sleep(0.05)
        return self.posts


@pytest.fixture
def receiver(sim: SimulatorHandle) -> Iterator[Receiver]:
    r = Receiver()
    sim.configure(webhook_url=r.url, webhook_backoff_seconds=0.05)
    yield r
    r.server.shutdown()


def _parse_all(bt: braintree.BraintreeGateway,
               posts: list[dict[str, str]]) -> list[braintree.WebhookNotification]:
    return [bt.webhook_notification.parse(p["bt_signature"], p["bt_payload"]) for p in posts]


def _captured(bt: braintree.BraintreeGateway, amount: str = "10.00",
              number: str = "4111111111111111") -> braintree.Transaction:
    return bt.transaction.sale({"amount": amount, "options": {"submit_for_settlement": True},
                                "credit_card": {"number": number,
                                                "expiration_date": "05/2030"}}).transaction


def test_transaction_settled_and_disbursement(bt: braintree.BraintreeGateway,
                                              sim: SimulatorHandle, receiver: Receiver) -> None:
    sale = _captured(bt)
    sim.run_settlement_batch()
    settled, disbursed = _parse_all(bt, receiver.wait_for(2))
    assert settled.kind == Kind.TransactionSettled
    assert (settled.transaction.id, settled.transaction.status) == (sale.id, "settled")
    assert settled.transaction.amount == sale.amount
    assert disbursed.kind == Kind.Disbursement
    assert disbursed.disbursement.transaction_ids == [sale.id]
    assert disbursed.disbursement.amount == sale.amount and disbursed.disbursement.success
    assert receiver.content_types[0].startswith("application/x-www-form-urlencoded")


def test_settlement_declined(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
                             receiver: Receiver) -> None:
    sale = _captured(bt, "4001.00")
    sim.run_settlement_batch()
    (note,) = _parse_all(bt, receiver.wait_for(1))
    assert note.kind == Kind.TransactionSettlementDeclined
    assert note.transaction.id == sale.id
    assert note.transaction.processor_settlement_response_code == "4001"


def test_testing_settle_call_also_notifies(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
                                           receiver: Receiver) -> None:
    sale = _captured(bt)
    sim.settle(sale.id)
    (note,) = _parse_all(bt, receiver.wait_for(1))
    assert (note.kind, note.transaction.id) == (Kind.TransactionSettled, sale.id)


@pytest.mark.parametrize(("answer", "kinds"), [
    (lambda bt, sim, d: bt.dispute.accept(d), [Kind.DisputeAccepted]),
    (lambda bt, sim, d: (bt.dispute.add_text_evidence(d, "compelling_evidence"),
                         bt.dispute.finalize(d)), [Kind.DisputeDisputed, Kind.DisputeWon]),
    (lambda bt, sim, d: (bt.dispute.add_text_evidence(d, "losing_evidence"),
                         bt.dispute.finalize(d)), [Kind.DisputeDisputed, Kind.DisputeLost]),
    (lambda bt, sim, d: sim.move_dispute(d, "under_review"), [Kind.DisputeUnderReview]),
    (lambda bt, sim, d: sim.move_dispute(d, "expired"), [Kind.DisputeExpired]),
], ids=["accepted", "won", "lost", "under_review", "expired"])
def test_dispute_lifecycle(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
                           receiver: Receiver,
                           answer: Callable[[Any, SimulatorHandle, str], object],
                           kinds: list[str]) -> None:
    sale = _captured(bt, number=CreditCardNumbers.Disputes.Chargeback)
    sim.settle(sale.id)
    notes = _parse_all(bt, receiver.wait_for(2))
    assert [n.kind for n in notes] == [Kind.TransactionSettled, Kind.DisputeOpened]
    dispute = notes[1].dispute
    assert (dispute.status, dispute.transaction.id) == ("open", sale.id)
    answer(bt, sim, dispute.id)
    later = _parse_all(bt, receiver.wait_for(2 + len(kinds)))[2:]
    assert [n.kind for n in later] == kinds
    assert all(n.dispute.id == dispute.id for n in later)


def test_signature_is_bound_to_the_keys(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
                                        receiver: Receiver) -> None:
    sim.settle(_captured(bt).id)
    (post,) = receiver.wait_for(1)
    other = sim.sdk(private_key="another_private_key")
    with pytest.raises(InvalidSignatureError):
        other.webhook_notification.parse(post["bt_signature"], post["bt_payload"])


def test_retries_with_back_off_until_delivered(bt: braintree.BraintreeGateway,
                                               sim: SimulatorHandle) -> None:
    r = Receiver(fail_first=2)
    sim.configure(webhook_url=r.url, webhook_backoff_seconds=0.05)
    try:
        sim.settle(_captured(bt).id)
        r.wait_for(1)
        assert r.calls == 3
        state = sim.webhooks()
        assert state["delivered"] == 1 and state["pending"] == []
    finally:
        r.server.shutdown()


def test_gives_up_after_max_attempts(bt: braintree.BraintreeGateway,
                                     sim: SimulatorHandle) -> None:
    r = Receiver(fail_first=100)
    sim.configure(webhook_url=r.url, webhook_backoff_seconds=0.02, webhook_max_attempts=3)
    try:
        sim.settle(_captured(bt).id)
        deadline = time.monotonic() + 10
        while not sim.webhooks()["failed"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (failed,) = sim.webhooks()["failed"]
        assert failed["attempts"] == 3 and failed["last_error"] == "HTTP 500"
        assert r.calls == 3
    finally:
        r.server.shutdown()


def test_undelivered_webhooks_survive_a_restart(tmp_path: Path) -> None:
    r = Receiver(fail_first=1000)
    state = str(tmp_path / "sim.json")
    config = SimulatorConfig(persist_file=state, webhook_url=r.url,
                             webhook_backoff_seconds=30)
    with run_simulator(config=config) as first:
        bt = first.sdk()
        sale = _captured(bt)
        first.settle(sale.id)
        deadline = time.monotonic() + 5
        while r.calls < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert len(first.webhooks()["pending"]) == 1
    r.fail_first = 0
    with run_simulator(config=config.model_copy(update={"webhook_backoff_seconds": 0.05})
                       ) as second:
        (post,) = r.wait_for(1)
        note = second.sdk().webhook_notification.parse(post["bt_signature"], post["bt_payload"])
        assert (note.kind, note.transaction.id) == (Kind.TransactionSettled, sale.id)
    r.server.shutdown()
