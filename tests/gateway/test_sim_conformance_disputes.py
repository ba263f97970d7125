"""Conformance: disputes as Braintree's sandbox opens and answers them, through the SDK's
dispute API (find, accept, evidence, finalize, search) and document uploads."""

from __future__ import annotations

import tempfile
from decimal import Decimal

import braintree
import pytest
from braintree.exceptions.not_found_error import NotFoundError
from braintree.test.credit_card_numbers import CreditCardNumbers
from gw_helpers import codes

from gateway.simulator.runner import SimulatorHandle

CHARGEBACK = CreditCardNumbers.Disputes.Chargeback


def _disputed(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
              amount: str = "10.00") -> braintree.Dispute:
    sale = bt.transaction.sale({"amount": amount, "options": {"submit_for_settlement": True},
                                "credit_card": {"number": CHARGEBACK,
                                                "expiration_date": "05/2030"}})
    assert sale.is_success, sale.message
    assert bt.transaction.find(sale.transaction.id).disputes == []
    sim.settle(sale.transaction.id)
    disputes = bt.transaction.find(sale.transaction.id).disputes
    assert len(disputes) == 1
    return bt.dispute.find(disputes[0].id)


def test_chargeback_card_opens_a_dispute_on_settlement(
        bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    assert (d.status, d.kind, d.reason) == ("open", "chargeback", "fraud")
    assert d.amount_disputed == Decimal("10.00") and d.amount_won == Decimal("0.00")
    assert d.currency_iso_code == "USD" and d.case_number and d.reference_number
    assert d.reply_by_date > d.received_date
    assert [h.status for h in d.status_history] == ["open"]
    assert d.transaction.amount == Decimal("10.00")
    assert d.protection_level == braintree.Dispute.ProtectionLevel.NoProtection


def test_settlement_batch_also_opens_the_dispute(bt: braintree.BraintreeGateway,
                                                 sim: SimulatorHandle) -> None:
    sale = bt.transaction.sale({"amount": "10.00", "options": {"submit_for_settlement": True},
                                "credit_card": {"number": CHARGEBACK,
                                                "expiration_date": "05/2030"}}).transaction
    sim.run_settlement_batch()
    assert [d.status for d in bt.transaction.find(sale.id).disputes] == ["open"]


@pytest.mark.parametrize(("amount", "reason_code"), [("83.00", "83"), ("10.40", "1040"),
                                                      ("13.10", "1310"), ("70.30", "7030")])
def test_reason_code_amounts(bt: braintree.BraintreeGateway, sim: SimulatorHandle,
                             amount: str, reason_code: str) -> None:
    assert _disputed(bt, sim, amount).reason_code == reason_code


def test_accept(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    assert bt.dispute.accept(d.id).is_success
    assert bt.dispute.find(d.id).status == "accepted"
    assert codes(bt.dispute.accept(d.id)) == ["95704"]


def test_compelling_evidence_wins(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    evidence = bt.dispute.add_text_evidence(d.id, "compelling_evidence")
    assert evidence.is_success and evidence.evidence.comments == "compelling_evidence"
    assert bt.dispute.finalize(d.id).is_success
    won = bt.dispute.find(d.id)
    assert won.status == "won" and won.amount_won == Decimal("10.00")
    assert [h.status for h in won.status_history] == ["open", "disputed", "won"]
    assert won.evidence[0].sent_to_processor_at is not None


def test_losing_evidence_loses(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    bt.dispute.add_text_evidence(d.id, {"content": "losing_evidence", "category": "GENERAL"})
    bt.dispute.finalize(d.id)
    assert bt.dispute.find(d.id).status == "lost"


def test_other_evidence_waits_for_the_processor(bt: braintree.BraintreeGateway,
                                                sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    bt.dispute.add_text_evidence(d.id, "tracking 1Z999")
    bt.dispute.finalize(d.id)
    assert bt.dispute.find(d.id).status == "disputed"
    assert sim.move_dispute(d.id, "lost") == "lost"


def test_finalize_needs_evidence(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    assert codes(bt.dispute.finalize(d.id)) == ["95726"]


def test_closed_dispute_refuses_evidence_and_finalize(bt: braintree.BraintreeGateway,
                                                      sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    kept = bt.dispute.add_text_evidence(d.id, "note").evidence
    bt.dispute.accept(d.id)
    assert codes(bt.dispute.add_text_evidence(d.id, "late")) == ["95701"]
    assert codes(bt.dispute.remove_evidence(d.id, kept.id)) == ["95702"]
    assert codes(bt.dispute.finalize(d.id)) == ["95705"]


def test_remove_evidence(bt: braintree.BraintreeGateway, sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    evidence = bt.dispute.add_text_evidence(d.id, "first").evidence
    assert bt.dispute.remove_evidence(d.id, evidence.id).is_success
    assert bt.dispute.find(d.id).evidence == []
    with pytest.raises(NotFoundError):
        bt.dispute.remove_evidence(d.id, "nosuchevidence")


def test_unknown_dispute_is_not_found(bt: braintree.BraintreeGateway) -> None:
    for call in (bt.dispute.find, bt.dispute.accept, bt.dispute.finalize):
        with pytest.raises(NotFoundError):
            call("nosuchdispute")
    with pytest.raises(NotFoundError):
        bt.dispute.add_text_evidence("nosuchdispute", "text")


def test_file_evidence_from_a_document_upload(bt: braintree.BraintreeGateway,
                                              sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    with tempfile.NamedTemporaryFile(suffix=".png") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
        fh.flush()
        fh.seek(0)
        upload = bt.document_upload.create({
            "kind": braintree.DocumentUpload.Kind.EvidenceDocument, "file": fh})
    assert upload.is_success, upload.message
    assert upload.document_upload.kind == "evidence_document"
    added = bt.dispute.add_file_evidence(d.id, upload.document_upload.id)
    assert added.is_success and added.evidence.url.endswith(fh.name.split("/")[-1])
    assert codes(bt.dispute.add_file_evidence(d.id, "nosuchdocument")) == ["95703"]


def test_search_by_status_and_transaction(bt: braintree.BraintreeGateway,
                                          sim: SimulatorHandle) -> None:
    first = _disputed(bt, sim)
    second = _disputed(bt, sim)
    bt.dispute.accept(second.id)
    found = bt.dispute.search([braintree.DisputeSearch.status.in_list(["open"])]).disputes
    assert [d.id for d in found.items] == [first.id]
    by_txn = bt.dispute.search(
        [braintree.DisputeSearch.transaction_id == second.transaction.id]).disputes
    assert [d.id for d in by_txn.items] == [second.id]


def test_testing_hook_moves_and_refuses(bt: braintree.BraintreeGateway,
                                        sim: SimulatorHandle) -> None:
    d = _disputed(bt, sim)
    assert sim.move_dispute(d.id, "under_review") == "under_review"
    assert sim.move_dispute(d.id, "won") == "won"
    with pytest.raises(Exception, match="409"):
        sim.move_dispute(d.id, "expired")
