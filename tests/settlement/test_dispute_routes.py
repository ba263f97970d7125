"""Merchant dispute routes against the simulator's dispute API, through the dispute port."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from braintree.test.credit_card_numbers import CreditCardNumbers
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_edge.disputes import install_disputes
from api_edge.problems import install_problem_handlers
from gateway.disputes import BraintreeDisputes
from gateway.simulator.runner import SimulatorHandle, run_simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator() as handle:
        yield handle


@pytest.fixture(scope="module")
def client(sim: SimulatorHandle) -> Iterator[TestClient]:
    async def merchant() -> None:
        """Stands in for the facade's merchant-role dependency (tested with the edge)."""

    app = FastAPI()
    install_problem_handlers(app)
    install_disputes(app, merchant, merchant, BraintreeDisputes(sim.gateway_settings()))
    with TestClient(app) as test_client:
        yield test_client


def open_dispute(sim: SimulatorHandle, order_id: str) -> str:
    bt = sim.sdk()
    sale = bt.transaction.sale({
        "amount": "83.00", "order_id": order_id, "options": {"submit_for_settlement": True},
        "credit_card": {"number": CreditCardNumbers.Disputes.Chargeback,
                        "expiration_date": "05/2030"}}).transaction
    sim.settle(sale.id)
    (dispute,) = bt.transaction.find(sale.id).disputes
    return str(dispute.id)


def test_contest_with_text_and_file_evidence_then_finalize(sim: SimulatorHandle,
                                                          client: TestClient) -> None:
    dispute_id = open_dispute(sim, "ord-contest-1")
    found = client.get(f"/v1/disputes/{dispute_id}").json()
    assert (found["status"], found["order_id"]) == ("open", "ord-contest-1")
    assert found["amount_disputed"] == {"amount": "83.00", "currency": "USD"}
    text = client.post(f"/v1/disputes/{dispute_id}/evidence", json={"text": "losing_evidence"})
    assert text.status_code == 201, text.text
    pdf = base64.b64encode(b"%PDF-1.4 proof of delivery").decode()
    doc = client.post(f"/v1/disputes/{dispute_id}/evidence",
                      json={"file_name": "delivery.pdf", "content_base64": pdf})
    assert doc.status_code == 201, doc.text
    done = client.post(f"/v1/disputes/{dispute_id}/finalize").json()
    assert done["status"] in ("disputed", "lost")
    assert set(done["evidence_ids"]) >= {text.json()["evidence_id"], doc.json()["evidence_id"]}
    # A finalized dispute takes no more evidence: Braintree's 95701, as a 409.
    late = client.post(f"/v1/disputes/{dispute_id}/evidence", json={"text": "more"})
    assert late.status_code == 409 and "95701" in late.json()["detail"]


def test_accept_and_errors(sim: SimulatorHandle, client: TestClient) -> None:
    dispute_id = open_dispute(sim, "ord-accept-1")
    accepted = client.post(f"/v1/disputes/{dispute_id}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    again = client.post(f"/v1/disputes/{dispute_id}/accept")
    assert again.status_code == 409 and "95704" in again.json()["detail"]
    assert client.get("/v1/disputes/nosuchdispute").status_code == 404
    both = client.post(f"/v1/disputes/{dispute_id}/evidence",
                       json={"text": "x", "file_name": "a.pdf", "content_base64": "eA=="})
    assert both.status_code == 422
